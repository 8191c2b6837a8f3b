"""Runs killed with kill -9 on PostgreSQL (issue 10, point 3): the orphaned session of a
killed run is ended before the next run waits on its locks, and on a shared store a run
of another host is abandoned once its session is gone, not before.

The runs are real `runbook run` processes, killed inside a step. Nothing here is timed:
what the server says (pg_stat_activity) and the runs' results are asserted."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import REPO, Backend, configure

pytestmark = pytest.mark.integration

WAIT_LIMIT = 60.0  # seconds: a bound for the test's own polling, never an assertion


def _wait(what: str, ready: Any, process: subprocess.Popen[str] | None = None) -> Any:
    deadline = time.monotonic() + WAIT_LIMIT
    while not (found := ready()):
        if process is not None and process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"the run ended before {what}: {out}\n{err}")
        if time.monotonic() > deadline:
            pytest.fail(f"{what} never happened")
        time.sleep(0.05)
    return found


def _start(root: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "runner", "--config", str(root / "runner.yaml"), "run", *args],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runner", "--config", str(root / "runner.yaml"), *args],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _kill(process: subprocess.Popen[str]) -> None:
    os.kill(process.pid, signal.SIGKILL)
    process.communicate()


def _sessions(backend: Backend, name: str) -> list[tuple[Any, ...]]:
    """(pid, state, query) of the server's sessions named `name`."""
    return backend.execute(
        "SELECT pid, state, query FROM pg_stat_activity WHERE application_name = ?", name
    )


# --- the orphaned session of a killed run -----------------------------------------------


def test_a_killed_runs_orphaned_session_is_ended_before_the_next_run_waits_on_it(
    project, postgres
) -> None:
    configure(project, postgres)
    table = f"t_{secrets.token_hex(4)}"
    postgres.execute(f"CREATE TABLE {table} (id INTEGER)")
    project.runbook(
        "locker",
        f"""
        runbook: locker
        kind: processing
        connection: pg
        inputs:
          hold: {{type: integer, default: 0}}
        steps:
          - id: locked
            transaction: true
            steps:
              - id: lock
                timeout: 30s
                sql: LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE
              - id: hold
                timeout: 10m
                sql: "SELECT pg_sleep({{{{ inputs.hold }}}}) AS slept"
        """,
    )
    first = _start(project.root, "locker", "--param", "hold=600")

    def running_id() -> str | None:
        with (
            contextlib.suppress(sqlite3.Error),
            sqlite3.connect(project.root / "var/runner.db") as db,
        ):
            row = db.execute("SELECT run_id FROM runs WHERE outcome = 'running'").fetchone()
            return str(row[0]) if row else None
        return None

    run_id = _wait("the run's start", running_id, first)
    name = f"runbook step {run_id}"
    # The run's statement carries its run id: the session sleeps holding the table's lock.
    _wait(
        "the pg_sleep",
        lambda: any(state == "active" and "pg_sleep" in query
                    for _, state, query in _sessions(postgres, name)),
        first,
    )  # fmt: skip
    _kill(first)
    [(orphan, state, _)] = _sessions(postgres, name)
    assert state == "active"  # the server goes on with the dead client's statement

    logged: list[str] = []
    result = project.run("locker", {"hold": 0}, log=logged.append)

    assert (str(result.status), result.outcome) == ("OK", "completed"), result.error
    [locked] = result.steps
    assert [step.outcome for step in locked.children] == ["ok", "ok"]
    assert _sessions(postgres, name) == []
    assert postgres.execute("SELECT COUNT(*) FROM pg_stat_activity WHERE pid = ?", orphan) == [(0,)]
    assert any(
        f"ended 1 session(s) of abandoned run(s) {run_id} on 'pg' (server pids {orphan})" in line
        for line in logged
    ), logged
    with sqlite3.connect(project.root / "var/runner.db") as db:
        outcome, status, error = db.execute(
            "SELECT outcome, status, error FROM runs WHERE run_id = ?", (run_id,)
        ).fetchone()
    assert (outcome, status) == ("abandoned", "UNKNOWN")
    assert f"(pid {first.pid} on " in error and "last seen at" in error


# --- a shared store: another host's run ---------------------------------------------------

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


@pytest.fixture
def shared_store(postgres: Backend) -> Iterator[str]:
    schema = f"dead_{secrets.token_hex(4)}"
    postgres.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{postgres.odbc};ConnSettings={{SET search_path TO {schema}}}"
    finally:
        postgres.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.mark.parametrize("concurrency", ["skip", "allow"])
def test_another_hosts_run_is_abandoned_once_its_session_is_gone(
    tmp_path: Path, postgres: Backend, shared_store: str, concurrency: str
) -> None:
    signals = tmp_path / "signals"
    signals.mkdir()
    (signals / "hold.py").write_text(_HOLD, encoding="utf-8")
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runner.yaml").write_text(
        f"state: {{odbc: {shared_store!r}, dialect: postgres}}\n", encoding="utf-8"
    )
    (tmp_path / "runbooks" / "held.yaml").write_text(
        textwrap.dedent(
            f"""
            runbook: held
            concurrency: {concurrency}
            steps:
              - id: hold
                timeout: 2m
                command: [{sys.executable}, {signals / "hold.py"}, {signals / "started"},
                          {signals / "release"}]
            """
        ),
        encoding="utf-8",
    )
    store = Backend("store", "postgres", shared_store)
    run = _start(tmp_path, "held")
    try:
        _wait("the step's start", (signals / "started").exists, run)
        [(run_id,)] = store.execute("SELECT run_id FROM runs WHERE outcome = 'running'")
        # As another host would see it: the row names a host that is not this one.
        store.execute("UPDATE runs SET host = 'web02' WHERE run_id = ?", run_id)

        alive = json.loads(_cli(tmp_path, "history", "--format", "json").stdout)
        assert [(row["run_id"], row["outcome"]) for row in alive] == [(run_id, "running")]

        # Its lock's session (mode skip) and the store's own, both named after the run.
        names = [f"runbook run {run_id}", f"runbook store {run_id}"]
        assert [bool(_sessions(postgres, name)) for name in names] == [
            concurrency == "skip", True,
        ]  # fmt: skip
        _kill(run)
        _wait("the end of the killed run's sessions",
              lambda: not any(_sessions(postgres, name) for name in names))  # fmt: skip
        status = _cli(tmp_path, "status", "--format", "json")
        [row] = json.loads(status.stdout)
        assert (row["run_id"], row["status"], row["outcome"]) == (run_id, "UNKNOWN", "abandoned")
        assert status.returncode == 3, status.stderr
        [(error,)] = store.execute("SELECT error FROM runs WHERE run_id = ?", run_id)
        assert error.startswith(
            f"the run's session of the state store (pid {run.pid} on web02) is gone; last seen at"
        )
    finally:
        (signals / "release").touch()
        if run.poll() is None:
            _kill(run)
