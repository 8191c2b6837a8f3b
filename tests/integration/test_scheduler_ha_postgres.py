"""Schedulers sharing one PostgreSQL state store (issue 13, point 3): each slot runs
once, whichever host claims it; and a scheduler killed inside a run leaves that slot
neither lost nor doubled, its run reconciled abandoned.

Two `Scheduler`s with different host names in this process, on fake clocks, show the
claims; two real `runbook scheduler --once` processes, one SIGKILLed inside a slow step,
show the rest."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from runner.service.scheduler import Scheduler

from .conftest import REPO, Backend

pytestmark = pytest.mark.integration

WAIT_LIMIT = 60.0  # seconds: a bound for the test's own polling, never an assertion

QUICK = """
runbook: {name}
schedule: "*/10 * * * *"
catchup: {catchup}
connection: main
steps:
  - id: one
    sql: SELECT 1 AS one
"""


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def shared_store(postgres: Backend) -> Iterator[Backend]:
    schema = f"ha_{secrets.token_hex(4)}"
    postgres.execute(f"CREATE SCHEMA {schema}")
    try:
        yield Backend(
            "state", "postgres", f"{postgres.odbc};ConnSettings={{SET search_path TO {schema}}}"
        )
    finally:
        postgres.execute(f"DROP SCHEMA {schema} CASCADE")


def _on_shared_store(project: Any, store: Backend) -> None:
    project.config(
        f"""
        connections:
          main: {{sqlite: data.db}}
        state: {{odbc: {store.odbc!r}, dialect: postgres}}
        """
    )


def _hosts(project: Any) -> list[Scheduler]:
    return [
        Scheduler(project.service(), host=host, log=lambda message: None)
        for host in ("sched-a", "sched-b")
    ]


def test_two_hosts_run_each_slot_once(project: Any, shared_store: Backend) -> None:
    """Both hosts tick at every moment, in turns; every slot has one run and one claim,
    and each host won some."""
    _on_shared_store(project, shared_store)
    project.runbook("tick", QUICK.format(name="tick", catchup="latest"))
    hosts = _hosts(project)
    moment = at("2026-06-01T10:00:05")
    for turn in range(6):
        first, second = hosts if turn % 2 == 0 else hosts[::-1]
        for scheduler in (first, second):
            scheduler.tick(moment)
        for scheduler in (first, second):
            scheduler.run_due(moment)
        moment += timedelta(minutes=10)
    runs = shared_store.execute("SELECT slot, trigger, outcome FROM runs ORDER BY slot")
    slots = [f"2026-06-01T1{n // 6}:{n % 6}0:00.000000Z" for n in range(6)]
    assert runs == [(slot, "schedule", "completed") for slot in slots]
    claims = shared_store.execute("SELECT slot, host FROM claims ORDER BY slot")
    assert [slot for slot, _ in claims] == slots
    assert Counter(host for _, host in claims) == {"sched-a": 3, "sched-b": 3}


def test_two_hosts_catch_up_ten_missed_slots_once(project: Any, shared_store: Backend) -> None:
    """Both were down for ten slots (catchup: all): both start at once, and the ten
    slots run once between them."""
    from runner.base.status import Status
    from runner.history.store import StateStore, new_run_id
    from runner.language.results import RunResult

    _on_shared_store(project, shared_store)
    project.runbook("tick", QUICK.format(name="tick", catchup="all"))
    seed = at("2026-06-01T08:00")
    with StateStore(project.library().config.state_location) as store:
        store.record_finished(
            RunResult(
                run_id=new_run_id(),
                runbook="tick",
                status=Status.OK,
                trigger="schedule",
                started=seed,
                ended=seed,
                slot=seed,
            ),
            [],
        )
    moment = seed + timedelta(minutes=100, seconds=30)  # 08:10 .. 09:30 missed
    hosts = _hosts(project)
    for scheduler in hosts:
        scheduler.tick(moment)
    for scheduler in hosts:
        scheduler.run_due(moment)
    rows = shared_store.execute(
        "SELECT slot, trigger FROM runs WHERE slot > '2026-06-01T08:00:00.000000Z'"
    )
    assert Counter(trigger for _, trigger in rows) == {"catchup": 9, "schedule": 1}  # 09:40 is due
    assert sorted(slot for slot, _ in rows) == [
        f"2026-06-01T0{8 + n // 6}:{n % 6}0:00.000000Z" for n in range(1, 11)
    ]


# -- a claim whose scheduler died before its run was recorded ----------------------------


def _hosts_saying(project: Any) -> tuple[list[Scheduler], list[str]]:
    said: list[str] = []
    hosts = [
        Scheduler(project.service(), host=host, log=said.append) for host in ("sched-a", "sched-b")
    ]
    return hosts, said


def _claim_of_a_gone_scheduler(project: Any, slot: datetime) -> None:
    from runner.history.store import StateStore

    with StateStore(project.library().config.state_location) as store:
        assert store.claim_slot("tick", slot, host="sched-gone", pid=4242, at=slot)


def _both_run(hosts: list[Scheduler], moment: datetime) -> None:
    for scheduler in hosts:
        scheduler.tick(moment)
    for scheduler in hosts:
        scheduler.run_due(moment)


def test_a_claim_whose_scheduler_is_gone_is_taken_over_once(
    project: Any, shared_store: Backend
) -> None:
    """A slot claimed by a scheduler that died before recording its run (no session of
    it on the server): of two schedulers that see it due, one takes it over and runs it,
    once; the claim is then that one's."""
    _on_shared_store(project, shared_store)
    project.runbook("tick", QUICK.format(name="tick", catchup="latest"))
    slot = at("2026-06-01T10:00")
    _claim_of_a_gone_scheduler(project, slot)
    hosts, said = _hosts_saying(project)
    _both_run(hosts, slot + timedelta(seconds=5))
    _both_run(hosts, slot + timedelta(seconds=35))  # a later tick changes nothing
    for scheduler in hosts:
        scheduler.drain()
    runs = shared_store.execute("SELECT slot, trigger, outcome FROM runs")
    assert runs == [("2026-06-01T10:00:00.000000Z", "schedule", "completed")]
    [(host, pid)] = shared_store.execute("SELECT host, pid FROM claims")
    assert host in ("sched-a", "sched-b") and pid == os.getpid()
    taken = [line for line in said if "taken over from sched-gone (pid 4242)" in line]
    assert len(taken) == 1, said
    assert sum("; not run here" in line for line in said) == 1, said


def test_a_live_holder_keeps_its_claim_until_its_session_ends(
    project: Any, shared_store: Backend
) -> None:
    """While the claimant's session is there (alive, only slow) nobody runs its slot,
    however many ticks look again; once the session ends, the next tick of one of the
    two takes it over, and the slot runs once."""
    from runner.history.claims import scheduler_session

    _on_shared_store(project, shared_store)
    project.runbook("tick", QUICK.format(name="tick", catchup="latest"))
    slot = at("2026-06-01T10:00")
    _claim_of_a_gone_scheduler(project, slot)
    holder = shared_store.connect()
    try:
        holder.execute(
            "SELECT set_config('application_name', ?, false)",
            scheduler_session("sched-gone", 4242),
        )
        hosts, said = _hosts_saying(project)
        for seconds in (5, 15, 25):
            _both_run(hosts, slot + timedelta(seconds=seconds))
        assert shared_store.execute("SELECT slot FROM runs") == []
        assert sum("claimed by sched-gone (pid 4242)" in line for line in said) == 2, said
        assert not any("taken over" in line for line in said), said
    finally:
        holder.close()
    _wait(
        "the end of the holder's session",
        lambda: (
            not shared_store.execute(
                "SELECT 1 FROM pg_stat_activity WHERE application_name = ?",
                scheduler_session("sched-gone", 4242),
            )
        ),
    )
    _both_run(hosts, slot + timedelta(seconds=35))
    _both_run(hosts, slot + timedelta(seconds=45))
    for scheduler in hosts:
        scheduler.drain()
    assert shared_store.execute("SELECT slot, trigger FROM runs") == [
        ("2026-06-01T10:00:00.000000Z", "schedule")
    ]
    assert sum("taken over from sched-gone (pid 4242)" in line for line in said) == 1, said


def test_a_lost_claim_is_given_up_outside_the_catchup_window(
    project: Any, shared_store: Backend
) -> None:
    """A slot older than its runbook's catch-up window is not taken over any more, even
    when its claimant dies: the recheck is bounded."""
    from runner.history.claims import scheduler_session

    _on_shared_store(project, shared_store)
    project.runbook(
        "tick",
        QUICK.format(name="tick", catchup="latest") + "catchup_window: 5m\n",
    )
    slot = at("2026-06-01T10:00")
    _claim_of_a_gone_scheduler(project, slot)
    with contextlib.closing(shared_store.connect()) as holder:
        holder.execute(
            "SELECT set_config('application_name', ?, false)",
            scheduler_session("sched-gone", 4242),
        )
        hosts, said = _hosts_saying(project)
        _both_run(hosts, slot + timedelta(seconds=5))
        assert all(scheduler.claims.lost for scheduler in hosts)
    _wait(
        "the end of the holder's session",
        lambda: (
            not shared_store.execute(
                "SELECT 1 FROM pg_stat_activity WHERE application_name = ?",
                scheduler_session("sched-gone", 4242),
            )
        ),
    )
    _both_run(hosts, slot + timedelta(minutes=6))
    assert not any(scheduler.claims.lost for scheduler in hosts)
    assert shared_store.execute("SELECT slot FROM runs") == []
    assert not any("taken over" in line for line in said), said


# -- two real daemons, one killed inside its run -----------------------------------------

_HOLD = textwrap.dedent(
    """
    import pathlib, sys, time
    started, release = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    started.touch()
    deadline = time.monotonic() + 60
    while not release.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    """
)


def _scheduler(root: Path, host_env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "runner",
            "--config",
            str(root / "runner.yaml"),
            "scheduler",
            "--once",
        ],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(REPO), **(host_env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait(what: str, ready: Any) -> Any:
    deadline = time.monotonic() + WAIT_LIMIT
    while not (found := ready()):
        if time.monotonic() > deadline:
            pytest.fail(f"{what} never happened")
        time.sleep(0.05)
    return found


def test_a_scheduler_killed_inside_its_run_loses_and_doubles_nothing(
    project: Any, shared_store: Backend
) -> None:
    """Two daemons start together and see the same slot due: one claims it and is
    SIGKILLed inside its slow step, the other runs nothing. The store then reconciles the
    killed run as abandoned (as another host's: by its sessions), and a daemon started
    again runs that slot not a second time."""
    signals = project.root / "signals"
    signals.mkdir()
    (signals / "hold.py").write_text(_HOLD, encoding="utf-8")
    _on_shared_store(project, shared_store)
    project.runbook(
        "held",
        f"""
        runbook: held
        schedule: "* * * * *"
        catchup: all
        steps:
          - id: hold
            timeout: 2m
            command: [{sys.executable}, {signals / "hold.py"}, {signals / "started"},
                      {signals / "release"}]
        """,
    )
    # Far from a minute's turn, so both daemons see the same slot due.
    _wait("a quiet second", lambda: datetime.now(UTC).second < 30)
    daemons = [_scheduler(project.root), _scheduler(project.root)]
    try:
        _wait("the slow step's start", (signals / "started").exists)
        [(run_id, slot, pid)] = shared_store.execute("SELECT run_id, slot, pid FROM runs")
        [(holder, claimer)] = shared_store.execute("SELECT host, pid FROM claims")
        assert claimer == pid  # the claim and the run are the same daemon's
        [killed] = [daemon for daemon in daemons if daemon.pid == pid]
        [other] = [daemon for daemon in daemons if daemon is not killed]
        err = other.communicate(timeout=WAIT_LIMIT)[1]
        assert other.returncode == 0, err
        assert "): started" not in err, err  # it ran nothing (said "claimed by", or found
        # the slot run already when it started: either way, not twice)
        # As any other host sees it: the run is not this host's, so its pid says nothing.
        shared_store.execute("UPDATE runs SET host = 'sched-a' WHERE run_id = ?", run_id)
        os.kill(killed.pid, signal.SIGKILL)
        killed.communicate()
        names = [f"runbook store {run_id}", f"runbook run {run_id}"]
        _wait(
            "the end of the killed run's sessions",
            lambda: (
                not shared_store.execute(
                    "SELECT 1 FROM pg_stat_activity WHERE application_name IN (?, ?)", *names
                )
            ),
        )
        (signals / "release").touch()  # a slot of the next minute runs through
        again = _scheduler(project.root)
        err = again.communicate(timeout=WAIT_LIMIT)[1]
        assert again.returncode == 0, err
        status = subprocess.run(
            [
                sys.executable,
                "-m",
                "runner",
                "--config",
                str(project.root / "runner.yaml"),
                "status",
            ],
            cwd=project.root,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        rows = shared_store.execute("SELECT slot, outcome, error FROM runs ORDER BY slot")
        assert all(count == 1 for count in Counter(row[0] for row in rows).values()), rows
        [(outcome, error)] = [(row[1], row[2]) for row in rows if row[0] == slot]
        assert outcome == "abandoned", (rows, status.stdout, status.stderr)
        assert error.startswith(f"the run's session of the state store (pid {pid} on sched-a)")
        assert shared_store.execute("SELECT host, pid FROM claims WHERE slot = ?", slot) == [
            (holder, pid)
        ]
    finally:
        (signals / "release").touch()
        for process in daemons:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGKILL)
                process.communicate()


def test_a_scheduler_killed_waiting_for_the_run_lock_has_its_slot_taken_over(
    project: Any, shared_store: Backend
) -> None:
    """A real `runbook scheduler --once` claims a slot of a `concurrency: wait` runbook
    and waits for its run lock, which the test holds; it is SIGKILLed there, before its
    run is recorded. A scheduler started next finds the slot without a run and its
    claimant's session gone, takes the claim over and runs the slot, once."""
    from runner.history.claims import scheduler_session
    from runner.history.store import StateStore

    _on_shared_store(project, shared_store)
    project.runbook(
        "held",
        f"""
        runbook: held
        schedule: "* * * * *"
        concurrency: wait
        steps:
          - id: quick
            command: [{sys.executable}, -c, "pass"]
        """,
    )
    _wait("a quiet second", lambda: datetime.now(UTC).second < 30)
    with StateStore(project.library().config.state_location) as store:
        lock = store.shared_lock("held", "wait", run_id="held-by-the-test")
        assert lock is not None and lock.acquire()
        first = _scheduler(project.root)
        try:
            [(slot, host, pid)] = _wait(
                "the first scheduler's claim",
                lambda: shared_store.execute("SELECT slot, host, pid FROM claims"),
            )
            assert pid == first.pid
            _wait(
                "the first scheduler waiting for the run lock",
                lambda: shared_store.execute(
                    "SELECT 1 FROM pg_stat_activity WHERE application_name LIKE ? "
                    "AND application_name <> ?",
                    "runbook run %",
                    "runbook run held-by-the-test",
                ),
            )
            assert shared_store.execute("SELECT run_id FROM runs") == []
            os.kill(first.pid, signal.SIGKILL)
            first.communicate()
        finally:
            if first.poll() is None:
                os.kill(first.pid, signal.SIGKILL)
                first.communicate()
            lock.release()
    _wait(
        "the end of the killed scheduler's session",
        lambda: (
            not shared_store.execute(
                "SELECT 1 FROM pg_stat_activity WHERE application_name = ?",
                scheduler_session(host, pid),
            )
        ),
    )
    second = _scheduler(project.root)
    err = second.communicate(timeout=WAIT_LIMIT)[1]
    assert second.returncode == 0, err
    assert f"taken over from {host} (pid {pid})" in err, err
    rows = shared_store.execute("SELECT slot, outcome FROM runs ORDER BY slot")
    assert all(count == 1 for count in Counter(row[0] for row in rows).values()), rows
    assert (slot, "completed") in rows, (rows, err)
    assert shared_store.execute("SELECT host, pid FROM claims WHERE slot = ?", slot) == [
        (host, second.pid)
    ]
