"""`runbook history --value STEP.NAME` reads a threshold computed by `value:` (an HTTP
answer's field, a command's output), which is recorded with its evaluation only."""

from __future__ import annotations

import json

from runner.cli.main import main


def test_history_value_reads_a_threshold_computed_by_value(project, capsys) -> None:
    project.runbook(
        "t",
        """
        runbook: t
        inputs:
          n: {type: integer, default: 41}
        steps:
          - id: probe
            command: [echo, "{{ inputs.n }}"]
            thresholds:
              answer: {value: stdout | int, warning: 100}
              exit_code: {warning: 1}
        """,
    )
    project.run("t")
    project.run("t", {"n": "42"})
    names = ["--value", "probe.answer", "--value", "probe.exit_code", "--value", "probe.nope"]
    assert main(["history", "t", *names, "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row["values"] for row in rows] == [
        {"probe.answer": 42, "probe.exit_code": 0, "probe.nope": None},
        {"probe.answer": 41, "probe.exit_code": 0, "probe.nope": None},
    ]
