"""Runs that died are reconciled: a `running` row whose process is gone becomes
`abandoned` (status UNKNOWN, ended when it was last seen) at the next `run`, `status` or
`history` on that host (issue 10, point 3). The store here is SQLite; the PostgreSQL side
(shared store, orphaned sessions) is in tests/integration/test_abandoned_postgres.py."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from test_output_schema import check

from runner.history.reconcile import Heartbeat, pid_alive
from runner.history.store import StateStore, new_run_id
from runner.language.results import RunResult

REPO = Path(__file__).resolve().parent.parent

WAIT_LIMIT = 60.0  # seconds: a bound for the test's own polling, never an assertion

# The step: says it started, then holds the run until `release` exists (or a minute).
_HOLD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    started, release = Path(sys.argv[1]), Path(sys.argv[2])
    started.write_text("started")
    deadline = time.monotonic() + 60
    while not release.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    """
)


def _run(started: datetime, *, host: str | None = None, run_id: str | None = None) -> RunResult:
    return RunResult(
        run_id=run_id or new_run_id(),
        runbook="order-health",
        started=started,
        host=host if host is not None else socket.gethostname(),
        user="ops",
    )


# --- the store: reconcile, heartbeat, pid liveness ----------------------------------------


def test_a_dead_runs_row_becomes_abandoned_with_when_it_was_last_seen(tmp_path: Path) -> None:
    started = datetime(2026, 11, 24, 9, 15, tzinfo=UTC)
    run = _run(started)
    with StateStore(tmp_path / "runner.db") as store:
        store.start_run(run)
        store.mark_seen(run.run_id, started + timedelta(seconds=42))
        found = store.reconcile(alive=lambda pid, since: False)
        row = store.get_run(run.run_id)
    assert [item["run_id"] for item in found] == [run.run_id]
    assert (row["outcome"], row["status"], row["exit_code"]) == ("abandoned", "UNKNOWN", 3)
    assert row["ended"] == "2026-11-24T09:15:42.000000Z"  # last seen, not when found
    assert row["duration"] == 42.0
    assert row["error"].startswith(
        f"the run's process (pid {os.getpid()} on {socket.gethostname()}) is gone; "
        "last seen at 2026-11-24T09:15:42.000Z, found at "
    )


def test_a_live_run_a_finished_run_and_another_hosts_run_are_left_alone(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    live, other_host, done = _run(now), _run(now, host="elsewhere"), _run(now)
    with StateStore(tmp_path / "runner.db") as store:
        for run in (live, other_host, done):
            store.start_run(run)
        done.ended, done.outcome = now, "completed"
        store.finish_run(done)
        assert store.reconcile() == []  # this process is alive; SQLite cannot see elsewhere
        asked: list[int] = []
        store.reconcile(alive=lambda pid, since: asked.append(pid) or False)
        outcomes = {row["run_id"]: row["outcome"] for row in store.history()}
    assert asked == [os.getpid()]  # only this host's running row was judged
    assert outcomes == {
        live.run_id: "abandoned",
        other_host.run_id: "running",
        done.run_id: "completed",
    }


def test_a_run_that_finishes_while_being_judged_keeps_its_record(tmp_path: Path) -> None:
    run = _run(datetime.now(UTC))
    with StateStore(tmp_path / "runner.db") as store:
        store.start_run(run)

        def finishes_meanwhile(pid: int, since: str | None) -> bool:
            run.ended, run.outcome = datetime.now(UTC), "completed"
            store.finish_run(run)
            return False

        assert store.reconcile(alive=finishes_meanwhile) == []
        assert store.get_run(run.run_id)["outcome"] == "completed"


def test_the_abandoned_runs_to_clear_are_those_no_later_run_followed(tmp_path: Path) -> None:
    early = datetime(2026, 11, 24, 9, tzinfo=UTC)
    first, second = _run(early), _run(early + timedelta(minutes=1))
    with StateStore(tmp_path / "runner.db") as store:
        store.start_run(first)
        store.start_run(second)
        store.reconcile(alive=lambda pid, since: False)
        assert store.orphaned_runs("order-health") == [second.run_id, first.run_id]
        store.start_run(_run(early + timedelta(minutes=2)))  # the next run started
        assert store.orphaned_runs("order-health") == []


def test_pid_alive_tells_a_dead_a_zombie_and_a_reused_pid_from_a_live_one() -> None:
    assert pid_alive(os.getpid(), datetime.now(UTC).isoformat())
    # A pid now held by a process that started after the run: the run's process is gone.
    assert not pid_alive(os.getpid(), "2000-01-01T00:00:00.000000Z")
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        child.kill()
        deadline = time.monotonic() + WAIT_LIMIT
        while _state(child.pid) != "Z" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not pid_alive(child.pid)  # killed, not yet reaped
    finally:
        child.wait()
    assert not pid_alive(child.pid)  # reaped: no such process


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return ""


def test_the_heartbeat_writes_at_most_every_few_seconds_and_never_fails_the_run() -> None:
    now = [100.0]
    beats: list[float] = []
    logged: list[str] = []

    def beat() -> None:
        beats.append(now[0])
        if len(beats) == 2:
            raise OSError("disk full")

    heartbeat = Heartbeat(beat, every=5.0, clock=lambda: now[0], log=logged.append)
    for moment in (101.0, 104.9, 105.0, 106.0, 110.0, 112.0):
        now[0] = moment
        heartbeat()
    assert beats == [105.0, 110.0]
    assert logged == ["runbook: the run's heartbeat was not recorded: disk full"]


def test_a_run_records_a_heartbeat_before_its_steps(project, monkeypatch) -> None:
    from runner.history import reconcile

    monkeypatch.setattr(reconcile, "HEARTBEAT", 0.0)
    seen: list[str] = []
    original = StateStore.mark_seen

    def spy(self: StateStore, run_id: str, at: Any = None) -> None:
        original(self, run_id, at)
        seen.append(self.get_run(run_id)["outcome"])

    monkeypatch.setattr(StateStore, "mark_seen", spy)
    project.runbook(
        "two",
        """
        runbook: two
        steps:
          - {id: a, sql: SELECT 1, connection: main}
          - {id: b, sql: SELECT 2, connection: main}
        """,
    )
    assert str(project.run("two").status) == "OK"
    assert seen == ["running", "running"]  # before each step, while the run is going


# --- real processes killed with kill -9 -----------------------------------------------


@pytest.fixture
def held(project) -> Any:
    """A project whose runbook `held` runs a step that waits for a release file."""
    signals = project.root / "signals"
    signals.mkdir()
    (signals / "hold.py").write_text(_HOLD, encoding="utf-8")
    project.runbook(
        "held",
        f"""
        runbook: held
        steps:
          - id: hold
            timeout: 2m
            command: [{sys.executable}, {signals / "hold.py"}, {signals / "started"},
                      {signals / "release"}]
        """,
    )
    yield project
    (signals / "release").touch()  # lets the orphaned step go


def _cli(project: Any, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runner", *args],
        cwd=project.root,
        env={**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1", "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _killed_run(project: Any) -> str:
    """Start `runbook run held`, kill -9 it inside its step; its run id."""
    process = subprocess.Popen(
        [sys.executable, "-m", "runner", "run", "held"],
        cwd=project.root,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    started = project.root / "signals" / "started"
    deadline = time.monotonic() + WAIT_LIMIT
    while not started.exists():
        if process.poll() is not None:
            pytest.fail(f"the run ended before its step started: {process.communicate()[1]}")
        if time.monotonic() > deadline:
            pytest.fail("the step never started")
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.communicate()
    with StateStore(project.root / "var" / "runner.db") as store:
        [row] = store.history("held")
    assert row["outcome"] == "running"  # the kill left it so
    return str(row["run_id"])


def test_status_shows_a_killed_run_as_abandoned_not_never_run(held) -> None:
    run_id = _killed_run(held)
    status = _cli(held, "status")
    assert status.returncode == 3, status.stderr
    line = next(line for line in status.stdout.splitlines() if line.startswith("held"))
    assert "UNKNOWN abandoned" in line and "never run" not in line
    answer = json.loads(_cli(held, "status", "--format", "json").stdout)
    [row] = [row for row in answer if row["runbook"] == "held"]
    assert (row["run_id"], row["status"], row["outcome"]) == (run_id, "UNKNOWN", "abandoned")


def test_history_shows_a_killed_run_as_abandoned_with_when_it_was_last_seen(held) -> None:
    run_id = _killed_run(held)
    answer = _cli(held, "history", "--format", "json")
    assert answer.returncode == 0, answer.stderr
    [row] = json.loads(answer.stdout)
    assert (row["run_id"], row["outcome"], row["status"]) == (run_id, "abandoned", "UNKNOWN")
    assert row["ended"] is not None
    assert f"is gone; last seen at {row['ended']}" in row["error"]
    text = " ".join(_cli(held, "history").stdout.split())
    assert "UNKNOWN" in text and "abandoned: the run's" in text and "last seen at" in text
    recorded = json.loads(_cli(held, "history", "--run", run_id, "--format", "json").stdout)
    assert recorded["outcome"] == "abandoned"
    check([row], "history")  # the documented output (schemas/run-result.schema.json)
    check(recorded, "recorded_run")


def test_the_next_run_marks_a_killed_run_abandoned_before_it_starts(held) -> None:
    run_id = _killed_run(held)
    (held.root / "signals" / "release").touch()
    result = held.run("held")
    assert str(result.status) == "OK" and result.outcome == "completed"
    with StateStore(held.root / "var" / "runner.db") as store:
        old = store.get_run(run_id)
    assert (old["outcome"], old["status"]) == ("abandoned", "UNKNOWN")


def test_the_sessions_to_end_are_on_the_pg_connections_of_the_runbook_and_its_calls(
    project,
) -> None:
    from runner.engine.options import Options
    from runner.engine.walker import Engine
    from runner.service.reconcile import postgres_connections

    pg = "DRIVER={PostgreSQL Unicode};SERVER=127.0.0.1;DATABASE=test"
    project.config(
        f"""
        connections:
          main: {{sqlite: data.db}}
          pg_a: {{odbc: "{pg}"}}
          pg_b: {{odbc: "{pg}"}}
          pg_c: {{odbc: "{pg}"}}
          maria: {{odbc: "DRIVER={{MariaDB Unicode}};SERVER=127.0.0.1"}}
        state: var/runner.db
        """
    )
    project.write(
        "checks/on-c.yaml",
        """
        check: on-c
        steps: [{id: c, sql: SELECT 1, connection: pg_c}]
        """,
    )
    project.runbook(
        "inner",
        """
        runbook: inner
        connection: pg_b
        steps: [{id: b, sql: SELECT 1}, {id: c, check: on-c}]
        """,
    )
    project.runbook(
        "outer",
        """
        runbook: outer
        connection: main
        steps:
          - {id: a, sql: SELECT 1, connection: pg_a}
          - {id: m, sql: SELECT 1, connection: maria}
          - {id: inner, runbook: inner}
          - {id: c, check: on-c}
        """,
    )
    library = project.library()
    outer = library.runbook("outer")
    names = [spec.name for spec in postgres_connections(outer, Engine(library, Options()))]
    assert sorted(names) == ["pg_a", "pg_b", "pg_c"]
    overridden = Engine(library, Options(connection_overrides={"pg_a": "main"}))
    assert sorted(spec.name for spec in postgres_connections(outer, overridden)) == [
        "pg_b", "pg_c",
    ]  # fmt: skip
