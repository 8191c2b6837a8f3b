"""A run's deadline (`deadline:`, `defaults: deadline:`, `--deadline`): reaching it cancels
the running step, leaves the rest not run, and ends the run UNKNOWN with what it measured,
recorded like any finished run. Where the engine alone decides, an injected clock moves
instead of real time; where a real statement or program must be cancelled, the deadline
is short and real, and the tests look at outcomes, not at timings."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from test_step_command import alive, assert_all_gone, pids_when_written

from runner.base.abort import RunAbort
from runner.base.status import Status
from runner.engine.options import Options
from runner.engine.walker import Engine
from runner.reports.render import render_run


class FakeClock:
    """Monotonic seconds that move only when the run sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def run_with_clock(project: Any, name: str, clock: FakeClock, deadline: float | None = None):
    library = project.library()
    runbook = library.runbook(name)
    options = Options(
        interactive=False,
        sleep=clock.sleep,
        clock=clock,
        deadline=runbook.deadline if deadline is None else deadline,
    )
    engine = Engine(library, options)
    inputs = engine.resolve_inputs(runbook, {})
    run = engine.new_run(runbook, inputs)
    engine.execute(runbook, run, inputs)
    return run


WAITS = """
runbook: waits
connection: main
deadline: 30s
steps:
  - id: measure
    sql: SELECT 7 AS depth
    thresholds:
      depth: {warning: 10, critical: 20}
  - id: first
    wait: 20s
  - id: second
    timeout: 60s
    wait: 20s
  - id: third
    wait: 1s
finally:
  - id: tidy
    wait: 1s
"""


def test_a_step_is_cut_at_the_deadline_and_the_rest_is_not_run(project: Any) -> None:
    project.runbook("waits", WAITS)
    clock = FakeClock()
    run = run_with_clock(project, "waits", clock)
    # The second wait had a 60 s timeout, but only 10 s were left: it slept those and
    # was cancelled there, as the deadline says, not after its own timeout.
    assert clock.slept == [20.0, 10.0]
    assert run.outcome == "completed" and run.status is Status.UNKNOWN
    assert run.error == "deadline of 30s reached during step second"
    steps = {step.id: step for step in run.steps}
    assert list(steps) == ["measure", "first", "second", "third", "tidy"]
    assert steps["measure"].status is Status.OK and steps["first"].outcome == "ok"
    assert steps["second"].outcome == "timed_out" and steps["second"].status is Status.UNKNOWN
    assert steps["second"].error == "cancelled: the run's deadline of 30s was reached"
    for rest in ("third", "tidy"):
        assert steps[rest].outcome == "not_run"
        assert steps[rest].error == "not run: the run's deadline of 30s was reached"
    nagios = render_run(run, "nagios")
    first_line = nagios.splitlines()[0]
    assert first_line.startswith("WAITS UNKNOWN - ")
    assert "deadline of 30s was reached" in first_line
    assert "| depth=7;~:10;~:20" in first_line  # the perfdata of what finished


def test_within_the_deadline_nothing_changes(project: Any) -> None:
    project.runbook("waits", WAITS)
    clock = FakeClock()
    run = run_with_clock(project, "waits", clock, deadline=60)
    assert run.status is Status.OK and run.error is None
    assert [step.outcome for step in run.steps] == ["ok"] * 5


def test_no_deadline_means_no_limit(project: Any) -> None:
    project.runbook("waits", WAITS.replace("deadline: 30s", "deadline: 0"))
    run = run_with_clock(project, "waits", FakeClock())
    assert run.status is Status.OK


def test_retries_stop_at_the_deadline(project: Any) -> None:
    project.runbook(
        "poll",
        """
        runbook: poll
        deadline: 25s
        steps:
          - id: poll
            command: [echo, not yet]
            until: stdout == "done"
            retry: {attempts: 10, backoff: fixed, delay: 10s}
          - id: after
            command: [echo, after]
        """,
    )
    clock = FakeClock()
    run = run_with_clock(project, "poll", clock)
    assert clock.slept == [10.0, 10.0, 5.0]  # the last wait ends at the deadline
    assert run.status is Status.UNKNOWN
    assert run.error == "deadline of 25s reached during step poll"
    assert [step.outcome for step in run.steps] == ["timed_out", "not_run"]


def test_a_step_may_use_what_is_left_and_no_more(project: Any) -> None:
    project.runbook(
        "two",
        """
        runbook: two
        deadline: 5s
        steps:
          - id: long
            wait: 5s
          - id: next
            command: [echo, next]
        """,
    )
    run = run_with_clock(project, "two", FakeClock(), deadline=6)
    # the wait took 5 of 6 s; then `next` started with 1 s left and ran (echo is quick)
    assert [step.outcome for step in run.steps] == ["ok", "ok"]
    assert run.status is Status.OK

    project.runbook(
        "two",
        """
        runbook: two
        steps:
          - id: long
            timeout: 10s
            wait: 6s
          - id: next
            command: [echo, next]
        """,
    )
    clock = FakeClock()
    run = run_with_clock(project, "two", clock, deadline=5)
    assert run.error == "deadline of 5s reached during step long"
    assert [step.outcome for step in run.steps] == ["timed_out", "not_run"]


def test_precedence_command_line_then_runbook_then_runner_yaml(
    project: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    project.config(
        "connections:\n  main: {sqlite: data.db}\nstate: var/runner.db\n"
        "defaults:\n  deadline: 50s\n"
    )
    project.runbook("own", "runbook: own\ndeadline: 20s\nsteps:\n  - command: [echo]\n")
    project.runbook("inherits", "runbook: inherits\nsteps:\n  - command: [echo]\n")
    library = project.library()
    assert library.runbook("own").deadline == 20
    assert library.runbook("inherits").deadline == 50

    seen: list[float | None] = []
    original = Engine.execute

    def spy(self: Engine, *args: Any) -> None:
        seen.append(self.options.deadline)
        original(self, *args)

    monkeypatch.setattr(Engine, "execute", spy)
    project.run("own")
    project.run("own", deadline=3.0)
    project.run("inherits")
    project.run("inherits", deadline=0.0)
    assert seen == [20, 3.0, 50, 0.0]


# --- real statements and programs, cancelled by a short real deadline ------------------

ENDLESS_SQL = """
runbook: endless
connection: main
steps:
  - id: measure
    sql: SELECT 3 AS depth
    thresholds:
      depth: {warning: 10}
  - id: spin
    timeout: 60s
    retry: {attempts: 3, delay: 1s}
    sql: |
      WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c)
      SELECT count(*) AS n FROM c
  - id: after
    sql: SELECT 1 AS one
"""


def test_a_sqlite_statement_is_cancelled_at_the_deadline_and_the_run_recorded(
    project: Any,
) -> None:
    from runner.history.store import StateStore

    project.runbook("endless", ENDLESS_SQL)
    run = project.run("endless", deadline=1.0)
    assert run.status is Status.UNKNOWN and run.outcome == "completed"
    assert run.error == "deadline of 1s reached during step spin"
    assert [step.outcome for step in run.steps] == ["ok", "timed_out", "not_run"]
    assert len(run.steps[1].attempts) <= 1  # cancelled, not retried
    assert "| depth=3;~:10" in render_run(run, "nagios").splitlines()[0]
    with StateStore(project.library().config.state) as store:
        (row,) = store.history("endless")
    assert row["status"] == "UNKNOWN" and row["outcome"] == "completed"
    assert row["error"] == "deadline of 1s reached during step spin"


def test_a_user_abort_still_ends_aborted(project: Any) -> None:
    project.runbook("endless", ENDLESS_SQL)
    abort = RunAbort()
    abort.abort("SIGTERM")
    service = project.service()
    from runner.service.runs import RunRequest

    run = service.run(RunRequest("endless", deadline=30.0), abort=abort)
    assert run.outcome == "aborted"


def test_a_command_and_its_grandchild_are_stopped_at_the_deadline(
    project: Any, tmp_path: Path
) -> None:
    pid_file = tmp_path / "pids"
    project.runbook(
        "slow",
        f"""
        runbook: slow
        connection: main
        steps:
          - id: measure
            sql: SELECT 3 AS depth
            thresholds:
              depth: {{warning: 10}}
          - id: sleepy
            timeout: 60s
            shell: true
            command: "sleep 30 & echo $$ $! > {pid_file}; wait"
          - id: after
            command: [echo, after]
        """,
    )
    done = subprocess.run(
        [sys.executable, "-m", "runner", "run", "slow", "--deadline", "1s", "--format", "nagios"],
        cwd=project.root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    pids = pids_when_written(pid_file)
    assert_all_gone(pids)
    assert done.returncode == 3, done.stderr
    first = done.stdout.splitlines()[0]
    assert first.startswith("SLOW UNKNOWN - sleepy: ")
    assert "deadline of 1s was reached" in first
    assert first.endswith("| depth=3;~:10")
    history = subprocess.run(
        [sys.executable, "-m", "runner", "history", "slow", "--format", "json"],
        cwd=project.root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "deadline of 1s reached during step sleepy" in history.stdout
    assert not any(alive(pid) for pid in pids)


def test_the_deadline_timer_is_not_left_running(project: Any) -> None:
    import threading

    project.runbook("quick", "runbook: quick\ndeadline: 1h\nsteps:\n  - command: [echo]\n")
    assert project.run("quick").status is Status.OK
    assert not [t for t in threading.enumerate() if t.name == "runbook-deadline" and t.is_alive()]


# --- validate: the worst case against the deadline and the schedule ------------------


def warnings_of(project: Any, text: str) -> list[str]:
    path = project.runbook("t", text)
    found = project.library().problems(path)
    return [p.format().replace(str(project.root) + "/", "") for p in found]


def test_validate_warns_when_the_steps_may_outlast_the_runbooks_deadline(project: Any) -> None:
    text = """
        runbook: t
        connection: main
        deadline: 50s
        defaults:
          timeout: 5s
          retry: {attempts: 3, backoff: exponential, delay: 2s, max_delay: 30s}
        steps:
          - sql: SELECT 1
          - sql: SELECT 2
          - sql: SELECT 3
          - sql: SELECT 4
          - sql: SELECT 5
            timeout: 1s
            retry: {attempts: 1}
        """
    assert warnings_of(project, text) == [
        "runbooks/t.yaml:3: warning: deadline: the steps may take up to 1m25s "
        "(4 steps × 3 attempts × 5s + 1 step × 1 attempt × 1s + backoff 24s), more than "
        "the deadline of 50s (lower the steps' timeouts or retry attempts, or raise the deadline)"
    ]
    # a warning, not an error: validate passes
    done = subprocess.run(
        [sys.executable, "-m", "runner", "validate"],
        cwd=project.root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout
    assert "1 warning" in done.stdout


def test_the_deadline_from_runner_yaml_is_named_as_such(project: Any) -> None:
    project.config(
        "connections:\n  main: {sqlite: data.db}\nstate: var/runner.db\n"
        "defaults:\n  timeout: 30s\n  deadline: 50s\n"
    )
    text = "runbook: t\nconnection: main\nsteps:\n  - sql: SELECT 1\n  - sql: SELECT 2\n"
    assert warnings_of(project, text) == [
        "runbooks/t.yaml:1: warning: deadline: the steps may take up to 1m "
        "(2 steps × 1 attempt × 30s), more than the deadline of 50s (from defaults: deadline:) "
        "(lower the steps' timeouts or retry attempts, or raise the deadline)"
    ]
    assert warnings_of(project, text.replace("SELECT 2", "SELECT 2\n    timeout: 20s")) == []


def test_validate_warns_when_the_steps_may_outlast_the_schedules_interval(project: Any) -> None:
    text = """
        runbook: t
        connection: main
        schedule: "*/5 9-17 * * *"
        steps:
          - sql: SELECT 1
            timeout: 2m
            retry: {attempts: 3, backoff: fixed, delay: 10s}
        """
    assert warnings_of(project, text) == [
        "runbooks/t.yaml:3: warning: schedule: the steps may take up to 6m20s "
        "(1 step × 3 attempts × 2m + backoff 20s), more than the 5m between two runs of "
        "'*/5 9-17 * * *' (lower the steps' timeouts or retry attempts, or run it less often)"
    ]


def test_for_each_counts_written_items_and_says_at_least_otherwise(project: Any) -> None:
    from runner.language.worstcase import worst_case

    project.runbook(
        "t",
        """
        runbook: t
        connection: main
        steps:
          - id: each
            for_each: [a, b, c, d, e]
            concurrency: 2
            steps:
              - sql: SELECT 1
                timeout: 10s
          - id: rows
            for_each: "steps.each.values"
            timeout: 7s
            sql: SELECT 2
        """,
    )
    worst = worst_case(project.library().runbook("t"))
    # 5 items in batches of 2: 3 batches of 10 s; then at least one item of 7 s
    assert worst.seconds == 37 and worst.at_least
    assert worst.shown == "at least 37s (3 steps × 1 attempt × 10s + 1 step × 1 attempt × 7s)"


def test_backoff_adds_up_the_waits_the_retries_make() -> None:
    """The estimate's backoff is what engine/retry.py really waits between attempts."""
    from runner.base.errors import StepTimeout
    from runner.engine import retry
    from runner.language.model import RetryPolicy
    from runner.language.worstcase import backoff

    def failing() -> dict[str, Any]:
        raise StepTimeout("no answer")

    for policy in (
        RetryPolicy(attempts=3, backoff="exponential", delay=2, max_delay=30),
        RetryPolicy(attempts=6, backoff="exponential", delay=1, max_delay=5),
        RetryPolicy(attempts=4, backoff="fixed", delay=3),
        RetryPolicy(attempts=1),
    ):
        waits: list[float] = []
        retry.attempt(failing, policy, sleep=waits.append)
        assert backoff(policy) == sum(waits), policy


def test_the_shipped_runbooks_fit_the_shipped_deadline() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "runner", "validate"],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout
    assert "warning" not in done.stdout, done.stdout
    shown = subprocess.run(
        [sys.executable, "-m", "runner", "show", "order-health"],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (
        "deadline: 50s   worst case: 42s (6 steps × 2 attempts × 3s + backoff 6s)" in shown.stdout
    )


def test_a_critical_measured_before_the_deadline_is_named_in_an_unknown_run(
    project: Any,
) -> None:
    project.runbook(
        "waits",
        WAITS.replace("depth: {warning: 10, critical: 20}", "depth: {warning: 5, critical: 6}"),
    )
    run = run_with_clock(project, "waits", FakeClock())
    assert run.error == (
        "deadline of 30s reached during step second; the steps before it measured CRITICAL"
    )
    assert run.steps[0].status is Status.CRITICAL and run.steps[2].status is Status.UNKNOWN
    assert run.status is Status.UNKNOWN  # the run could not measure everything


@pytest.mark.parametrize(
    "schedule",
    ["* * * * *", "*/15 * * * *", "5 * * * *", "*/7 * * * *", "0 9-17 * * *", "59 23 * * *",
     "0,30 8,20 * * *", "*/15 9-17 * * *", "0 */6 * * *", "0 9 * * 1-5", "0 0 1,15 * *"],
)  # fmt: skip
def test_a_schedule_s_interval_worked_out_is_the_one_sampled(schedule: str) -> None:
    from runner.language.worstcase import _sampled, schedule_interval

    assert schedule_interval(schedule) == _sampled(schedule, datetime(2026, 1, 1))
    assert schedule_interval("not a schedule") is None
