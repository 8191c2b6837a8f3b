"""Two hosts, one history: `state:` names a PostgreSQL database both record into, and
`concurrency: skip | wait` holds across them.

Each "host" is a folder with its own runner.yaml and its own var folder (so its own
local file locks): only the shared store can stop the second run. The runs are real
`runbook run` processes; the step holds the run open until the test lets it finish.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runner.history.locks import VERIFY_EVERY

from .conftest import REPO, Backend

pytestmark = pytest.mark.integration

# Started by the step: says when it started, then holds the run until `release` exists.
_HOLD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    started, release = Path(sys.argv[1]), Path(sys.argv[2])
    started.write_text(repr(time.time()))
    deadline = time.monotonic() + 60
    while not release.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    """
)
WAIT_LIMIT = 60.0  # seconds; a generous bound for the test's own polling, not an assertion


class Host:
    """A folder playing one host: runner.yaml naming the shared store, runbooks, var/."""

    def __init__(self, root: Path, state_odbc: str, signals: Path) -> None:
        self.root = root
        self.signals = signals
        (root / "runbooks").mkdir(parents=True)
        (root / "runner.yaml").write_text(
            f"state: {{odbc: {state_odbc!r}, dialect: postgres}}\n"
            f"checks: [{REPO / 'checks'}]\n"
            f"sql: [sql, {REPO / 'sql'}]\n",
            encoding="utf-8",
        )
        for concurrency in ("skip", "wait"):
            (root / "runbooks" / f"shared-{concurrency}.yaml").write_text(
                textwrap.dedent(
                    f"""
                    runbook: shared-{concurrency}
                    concurrency: {concurrency}
                    steps:
                      - id: hold
                        timeout: 2m
                        command: [{sys.executable}, {signals / "hold.py"},
                                  "{{{{ inputs.started }}}}", {signals / "release"}]
                    inputs:
                      started: {{type: string}}
                    """
                ),
                encoding="utf-8",
            )
        (root / "runbooks" / "shared-two.yaml").write_text(
            textwrap.dedent(
                f"""
                runbook: shared-two
                steps:
                  - id: hold
                    timeout: 2m
                    command: [{sys.executable}, {signals / "hold.py"},
                              "{{{{ inputs.started }}}}", "{{{{ inputs.release }}}}"]
                  - id: after
                    command: [{sys.executable}, -c, "print('after')"]
                inputs:
                  started: {{type: string}}
                  release: {{type: string, default: "{signals / "release"}"}}
                """
            ),
            encoding="utf-8",
        )

    def start(self, runbook: str, started: str, *params: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [
                sys.executable, "-m", "runner", "--config", str(self.root / "runner.yaml"),
                "run", runbook, "--param", f"started={self.signals / started}",
                *(part for param in params for part in ("--param", param)),
                "--format", "json",
            ],
            cwd=self.root,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # so a test can kill the run with its step
        )  # fmt: skip

    def runbook(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "runner", "--config", str(self.root / "runner.yaml"), *args],
            cwd=self.root,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            capture_output=True,
            text=True,
            timeout=120,
        )


@pytest.fixture
def shared_store(postgres: Backend) -> Iterator[str]:
    """The ODBC connection string of a fresh schema both hosts record into."""
    schema = f"hosts_{secrets.token_hex(4)}"
    postgres.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{postgres.odbc};ConnSettings={{SET search_path TO {schema}}}"
    finally:
        postgres.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture
def hosts(tmp_path: Path, shared_store: str) -> tuple[Host, Host]:
    signals = tmp_path / "signals"
    signals.mkdir()
    (signals / "hold.py").write_text(_HOLD, encoding="utf-8")
    return (
        Host(tmp_path / "host-a", shared_store, signals),
        Host(tmp_path / "host-b", shared_store, signals),
    )


def wait_for(path: Path, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + WAIT_LIMIT
    while not path.exists():
        if process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"the run ended before its step started: {out}\n{err}")
        if time.monotonic() > deadline:
            pytest.fail(f"{path.name} never appeared")
        time.sleep(0.02)


def lock_verified_next(started: Path) -> None:
    """Until the run whose step wrote `started` will ask again, after that step, whether
    it still holds its lock: at most every VERIFY_EVERY seconds, counted from before its
    first step. The run is another process on the real clock, so only waiting for that
    clock does it, and only as long as is left (often nothing)."""
    due = float(started.read_text()) + VERIFY_EVERY
    while (left := due - time.time()) > 0:
        time.sleep(left)


def lock_sessions(shared_store: str) -> set[int]:
    """The server pids of the sessions that hold or are asking for a run's cross-host lock
    in the shared store's database. Only that database's: the server is shared with other
    test sessions (other databases) whose runs name their lock sessions the same way."""
    import pyodbc

    from runner.history.backends import LOCK_APPLICATION

    with contextlib.closing(pyodbc.connect(shared_store, autocommit=True)) as db:
        rows = db.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name LIKE ? "
            "AND datname = current_database()",
            LOCK_APPLICATION + "%",
        ).fetchall()
    return {int(row[0]) for row in rows}


def finished(process: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = process.communicate(timeout=120)
    assert out, err
    return json.loads(out)


def test_the_second_host_is_skipped_and_told_who_holds_the_runbook(
    hosts: tuple[Host, Host],
) -> None:
    a, b = hosts
    first = a.start("shared-skip", "a-started")
    wait_for(a.signals / "a-started", first)  # host A is inside its step, holding the lock

    second = b.runbook("run", "shared-skip", "--param", f"started={b.signals / 'b-started'}",
                       "--format", "json")  # fmt: skip
    (a.signals / "release").touch()
    held = finished(first)

    # Nothing had finished yet: the skipped run cannot say how the runbook is (UNKNOWN).
    assert second.returncode == 3, second.stderr
    skipped = json.loads(second.stdout)
    assert (skipped["outcome"], skipped["status"]) == ("skipped", "UNKNOWN")
    assert not (b.signals / "b-started").exists()  # its step never ran
    holder = f"pid {first.pid} on {socket.gethostname()}, run {held['run_id']}, since "
    assert skipped["error"].startswith(f"shared-skip is already running ({holder}")
    assert (held["outcome"], held["status"]) == ("completed", "OK")

    # One history: either host lists both runs, the skipped one with its reason.
    listed = json.loads(b.runbook("history", "shared-skip", "--format", "json").stdout)
    assert {(run["run_id"], run["outcome"]) for run in listed} == {
        (held["run_id"], "completed"), (skipped["run_id"], "skipped"),
    }  # fmt: skip
    assert not (b.root / "var" / "runner.db").exists()  # nothing went to a local file


def test_a_waiting_host_runs_after_the_holder_finishes(
    hosts: tuple[Host, Host], shared_store: str
) -> None:
    a, b = hosts
    first = a.start("shared-wait", "a-started")
    wait_for(a.signals / "a-started", first)
    holding = lock_sessions(shared_store)  # A's, and any an earlier test left behind
    second = b.start("shared-wait", "b-started")
    # B cannot start its step while A holds the runbook; A is told to finish only once
    # B asks for the lock too (a new lock session), and B's step finds the release file
    # already there.
    deadline = time.monotonic() + WAIT_LIMIT
    while not lock_sessions(shared_store) - holding:
        assert second.poll() is None, second.communicate()
        assert time.monotonic() < deadline, "host B never asked for the lock"
        time.sleep(0.02)
    assert not (b.signals / "b-started").exists()
    (a.signals / "release").touch()

    held, waited = finished(first), finished(second)

    assert (held["outcome"], waited["outcome"]) == ("completed", "completed")
    assert waited["started"] < held["ended"] <= waited["steps"][0]["started"]


def test_a_host_that_dies_never_leaves_a_stale_lock(hosts: tuple[Host, Host]) -> None:
    a, b = hosts
    first = a.start("shared-skip", "a-started")
    wait_for(a.signals / "a-started", first)
    os.killpg(first.pid, signal.SIGKILL)  # the host is gone, with its step
    first.wait(timeout=30)
    (a.signals / "release").touch()

    second = b.runbook("run", "shared-skip", "--param", f"started={b.signals / 'b-started'}",
                       "--format", "json")  # fmt: skip

    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["outcome"] == "completed"
    runs = json.loads(b.runbook("history", "shared-skip", "--format", "json").stdout)
    # The dead run stays visible, reconciled as 'abandoned': history shows what happened.
    assert sorted(run["outcome"] for run in runs) == ["abandoned", "completed"]


def test_checks_read_the_shared_history_through_the_state_connection(
    hosts: tuple[Host, Host],
) -> None:
    a, b = hosts
    (a.signals / "release").touch()
    assert a.start("shared-skip", "a-started").wait(timeout=120) == 0
    (b.root / "runbooks" / "watch.yaml").write_text(
        textwrap.dedent(
            """
            runbook: watch
            steps:
              - id: ran
                check: last-run
                with: {runbook: shared-skip, max_age: 1h}
              - id: never
                check: last-run
                with: {runbook: shared-wait}
            """
        ),
        encoding="utf-8",
    )

    watched = b.runbook("run", "watch", "--format", "json")

    run = json.loads(watched.stdout)
    ran, never = run["steps"]
    assert ran["status"] == "OK", ran
    age = ran["children"][0]["values"]["row"]
    assert age["successes"] == 1 and 0 <= age["minutes"] < 5  # host A's run, seen from B
    assert never["status"] == "CRITICAL"
    assert never["children"][0]["values"]["row"] == {"successes": 0, "minutes": None}


def kill_lock_session(shared_store: str, runbook: str) -> str:
    """Terminate the session holding the running `runbook`'s cross-host lock, as a
    restarted server or a network cut would; the run id of the run that held it."""
    import pyodbc

    from runner.history.backends import LOCK_APPLICATION

    with contextlib.closing(pyodbc.connect(shared_store, autocommit=True)) as db:
        (run_id,) = db.execute(
            "SELECT run_id FROM runs WHERE runbook = ? AND outcome = 'running'", runbook
        ).fetchone()
        pids = db.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = ?",
            LOCK_APPLICATION + run_id,
        ).fetchall()
        assert len(pids) == 1
        db.execute("SELECT pg_terminate_backend(?)", pids[0][0])
        # pg_terminate_backend only signals the backend: wait until it, and its lock, are gone
        deadline = time.monotonic() + WAIT_LIMIT
        while db.execute("SELECT 1 FROM pg_stat_activity WHERE pid = ?", pids[0][0]).fetchone():
            assert time.monotonic() < deadline, "the lock session was never terminated"
            time.sleep(0.01)
    return str(run_id)


def test_a_run_that_lost_its_lock_to_another_host_stops_before_its_next_step(
    hosts: tuple[Host, Host], shared_store: str
) -> None:
    a, b = hosts
    first = a.start("shared-two", "a-started")
    wait_for(a.signals / "a-started", first)
    kill_lock_session(shared_store, "shared-two")  # A runs on, without its lock
    second = b.start("shared-two", "b-started", f"release={b.signals / 'release-b'}")
    wait_for(b.signals / "b-started", second)  # so B took the lock: both are in "hold"
    lock_verified_next(a.signals / "a-started")
    (a.signals / "release").touch()
    lost = finished(first)  # while B still holds the lock
    (b.signals / "release-b").touch()
    took_over = finished(second)

    assert first.returncode == 3 and (lost["outcome"], lost["status"]) == ("aborted", "UNKNOWN")
    assert [step["id"] for step in lost["steps"]] == ["hold"]  # "after" never ran on A
    holder = f"pid {second.pid} on {socket.gethostname()}, run {took_over['run_id']}, since "
    assert lost["error"].startswith(
        "shared-two lost its cross-host lock before step 'after' (its connection to the "
        "state store dropped: "
    )
    assert f"), and {holder}" in lost["error"]
    assert lost["error"].endswith("holds it now; the run stops here so that two runs never overlap")
    assert second.returncode == 0 and took_over["outcome"] == "completed"
    assert [step["id"] for step in took_over["steps"]] == ["hold", "after"]


def test_a_run_that_lost_its_lock_takes_it_again_and_says_so(
    hosts: tuple[Host, Host], shared_store: str
) -> None:
    a, b = hosts
    first = a.start("shared-two", "a-started")
    wait_for(a.signals / "a-started", first)
    kill_lock_session(shared_store, "shared-two")
    lock_verified_next(a.signals / "a-started")
    (a.signals / "release").touch()

    run = finished(first)

    assert first.returncode == 0 and run["outcome"] == "completed"
    assert [step["id"] for step in run["steps"]] == ["hold", "after"]
    assert run["error"].startswith(
        "shared-two lost its cross-host lock before step 'after' (its connection to the "
        "state store dropped: "
    )
    assert run["error"].endswith(") and took it again")
    # ... and holds it: B is turned away until A's run ends.
    second = b.runbook("run", "shared-two", "--param", f"started={b.signals / 'b-started'}",
                       "--format", "json")  # fmt: skip
    assert json.loads(second.stdout)["outcome"] == "completed"  # A has ended by now
    history = json.loads(b.runbook("history", "shared-two", "--format", "json").stdout)
    assert {entry["run_id"]: entry["error"] for entry in history}[run["run_id"]] == run["error"]


def test_a_lost_lock_that_cannot_be_taken_again_stops_the_run(shared_store: str) -> None:
    import pyodbc

    from runner.base.errors import ConfigError, LockLost
    from runner.history.advisory import AdvisoryRunLock
    from runner.history.backends import LOCK_APPLICATION

    opened: list[str] = []

    def connect(application: str) -> Any:
        if opened:  # the store went away with the session
            raise ConfigError("state: cannot open the state store: could not connect to server")
        opened.append(application)
        conn = pyodbc.connect(shared_store, autocommit=True)
        conn.execute("SELECT set_config('application_name', ?, false)", application)
        return conn

    lock = AdvisoryRunLock(connect, "gone", "skip", run_id="20261124T000000Z-000000000000")
    assert lock.acquire() and lock.verify("first") is None  # held: nothing to say
    with contextlib.closing(pyodbc.connect(shared_store, autocommit=True)) as db:
        (pid,) = db.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = ?",
            LOCK_APPLICATION + "20261124T000000Z-000000000000",
        ).fetchone()
        db.execute("SELECT pg_terminate_backend(?)", pid)

    with pytest.raises(LockLost) as lost:
        lock.verify("second")

    assert str(lost.value) == (
        "gone lost its cross-host lock before step 'second' (its connection to the state "
        "store dropped: FATAL: terminating connection due to administrator command) and "
        "cannot take it again (state: cannot open the state store: could not connect to "
        "server); the run stops here so that two runs never overlap"
    )
    assert not lock.held
    lock.release()  # after a loss, releasing is harmless
