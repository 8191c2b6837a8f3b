"""When a critical assert of a step fails (an HTTP answer that is a 500), the thresholds
that find no value in that answer are left out, so the assert's message is what the
report says; a threshold that found its value is judged as always."""

from __future__ import annotations

from runner.base.status import Status

RUNBOOK = """
runbook: t
kind: health-check
connection: main
inputs:
  state: {type: string}
steps:
  - id: probe
    sql: SELECT {{ inputs.state }} AS state
    assert:
      - that: state == 'up'
        message: "the service says {{ state }}"
    thresholds:
      latency_ms: {warning: 100}
      errors: {value: "1 if state == 'up' else 7", warning: 0}
"""


def _texts(run) -> list[str]:
    return [evaluation.text for evaluation in run.steps[0].evaluations]


def test_thresholds_without_a_value_are_left_out_when_a_critical_assert_fails(project) -> None:
    project.runbook("t", RUNBOOK)
    run = project.run("t", {"state": "down"})
    assert run.steps[0].status is Status.CRITICAL
    assert _texts(run) == ["errors = 7 > warning 0", "the service says down"]


def test_without_a_failed_critical_assert_a_missing_value_is_unknown(project) -> None:
    project.runbook("t", RUNBOOK)
    run = project.run("t", {"state": "up"})
    assert run.steps[0].status is Status.UNKNOWN
    assert _texts(run) == [
        "latency_ms: no such column or value (columns: state)",
        "errors = 1 > warning 0",
        "state == 'up'",
    ]
    project.runbook("t", RUNBOOK.replace("message:", "severity: warning\n        message:"))
    run = project.run("t", {"state": "down"})  # a warning assert leaves them all
    assert _texts(run)[0].startswith("latency_ms: no such column")
