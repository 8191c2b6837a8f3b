"""A claim of a schedule slot and the start of its run (history/claims.py, migration 9):
the run's first write confirms its scheduler's claim in the same transaction, and a
claim whose run started is never taken over; so when a live scheduler's claim is taken
over (its named session dropped for a moment, and it looked gone), one of the two runs
the slot, never both. On a real SQLite file and a real PostgreSQL database."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from integration.conftest import postgres  # noqa: F401 - the session's PostgreSQL database

from runner.base.hostname import hostname
from runner.base.status import Status
from runner.history.claims import Claim, ClaimLost, scheduler_session
from runner.history.store import StateStore, new_run_id
from runner.language.config import Config
from runner.language.results import RunResult
from runner.service.scheduler import Scheduler

WAIT_LIMIT = 60.0  # seconds: a bound for the test's own waiting, never an assertion
SLOT = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
SLOT_TEXT = "2026-06-01T10:00:00.000000Z"

# `allow`: no run lock, so B's run does not wait on (or skip for) A's paused one.
TICK = """
runbook: tick
schedule: "*/10 * * * *"
concurrency: allow
connection: main
steps:
  - id: one
    sql: SELECT 1 AS one
"""


def dead_pid() -> int:
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    return ended.pid


def a_run(slot: datetime | None = SLOT, outcome: str = "running") -> RunResult:
    return RunResult(
        run_id=new_run_id(),
        runbook="tick",
        status=Status.OK,
        outcome=outcome,
        trigger="schedule" if slot else "manual",
        started=datetime.now(UTC),
        ended=datetime.now(UTC),
        slot=slot,
    )


def slot_runs(store: StateStore) -> list[str]:
    rows = store._backend.query("SELECT run_id FROM runs WHERE slot = ?", (SLOT_TEXT,))
    return [row["run_id"] for row in rows]


def started_of(store: StateStore) -> str | None:
    rows = store._backend.query("SELECT started FROM claims WHERE slot = ?", (SLOT_TEXT,))
    return rows[0]["started"] if rows else None


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def store_location(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    if request.param == "sqlite":
        yield tmp_path / "var" / "runner.db"
        return
    from test_state import postgres_schema

    yield from postgres_schema(request.getfixturevalue("postgres"))


def test_a_run_whose_claim_was_taken_over_is_refused_on_each_store(store_location: Any) -> None:
    """Scheduler A claims the slot; B takes the claim over (A looked gone); then A's
    start is refused, with who has the claim, and writes nothing; B's start confirms
    B's claim: the slot has one run."""
    claim_a, claim_b = Claim("web01", 7), Claim("web02", 8)
    took = SLOT + timedelta(seconds=1)
    with StateStore(store_location) as store:
        assert store.claim_slot("tick", SLOT, host=claim_a.host, pid=claim_a.pid, at=took)
        holder = store.claim_of("tick", SLOT)
        assert holder is not None
        assert store.take_over_claim("tick", SLOT, holder, host="web02", pid=8, at=took)
        refused = a_run()
        with pytest.raises(ClaimLost) as lost:
            store.start_run(refused, claim_a)
        assert lost.value.format_message() == (
            "its claim was taken over by web02 (pid 8) at 2026-06-01T10:00:01.000000Z; not run here"
        )
        assert store.get_run(refused.run_id) is None and started_of(store) is None
        skipped = a_run(outcome="skipped")  # a skipped run is its slot's record as well
        with pytest.raises(ClaimLost, match="taken over by web02"):
            store.record_finished(skipped, [], claim_a)
        assert store.get_run(skipped.run_id) is None
        ran = a_run()
        store.start_run(ran, claim_b)
        assert slot_runs(store) == [ran.run_id] and started_of(store) is not None
        with pytest.raises(ClaimLost, match="its run started already, at 2026-"):
            store.start_run(a_run(), claim_b)  # a claim starts one run
        assert slot_runs(store) == [ran.run_id]
        store.start_run(a_run(slot=None), claim_a)  # a run of no slot confirms nothing
        store.start_run(a_run(slot=SLOT + timedelta(minutes=10)))  # nor one of no claim


def test_a_claim_whose_run_started_is_never_taken_over_on_each_store(
    store_location: Any,
) -> None:
    """Once the start of its run is recorded, a claim stays its scheduler's, even when
    the scheduler looks gone (here: a dead pid on this host), and even to a take-over
    that saw the slot without a run a moment before (`slot_ran`, then the UPDATE)."""
    gone = Claim(hostname(), dead_pid())
    took = SLOT + timedelta(seconds=1)
    with StateStore(store_location) as store:
        assert store.claim_slot("tick", SLOT, host=gone.host, pid=gone.pid, at=took)
        holder = store.claim_of("tick", SLOT)
        assert holder is not None and store.claim_gone("tick", SLOT, holder)
        store.start_run(a_run(), gone)
        assert not store.take_over_claim("tick", SLOT, holder, host="web02", pid=8, at=took)
        assert store.claim_of("tick", SLOT) == {**holder}


def test_a_skipped_run_confirms_its_claim(store_location: Any) -> None:
    """A run skipped by `concurrency: skip` has no start: its record confirms the claim."""
    claim = Claim("web01", 7)
    with StateStore(store_location) as store:
        assert store.claim_slot("tick", SLOT, host="web01", pid=7, at=SLOT)
        assert store.record_finished(a_run(outcome="skipped"), [], claim)
        assert started_of(store) is not None
        holder = store.claim_of("tick", SLOT)
        assert holder is not None
        assert not store.take_over_claim("tick", SLOT, holder, host="web02", pid=8, at=SLOT)


# -- the race, with two real schedulers ------------------------------------------------


class Paused:
    """Holds the start of a run (StateStore.start_run) until let go: the moment between
    a scheduler's claim and its run's first write, made as long as a test needs."""

    def __init__(self) -> None:
        self.reached = threading.Event()
        self.go = threading.Event()

    def opener(self) -> Callable[[Config], StateStore]:
        pause = self

        class PausedStore(StateStore):
            def start_run(self, run: RunResult, claim: Claim | None = None) -> None:
                pause.reached.set()
                pause.go.wait(WAIT_LIMIT)
                super().start_run(run, claim)

        return lambda config: PausedStore(config.state_location)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def kind(request: pytest.FixtureRequest, project: Any) -> Iterator[str]:
    """The project's state store: its SQLite file, or a schema of the session's
    PostgreSQL database."""
    project.runbook("tick", TICK)
    if request.param == "sqlite":
        yield "sqlite"
        return
    from test_state import postgres_schema

    for spec in postgres_schema(request.getfixturevalue("postgres")):
        project.config(
            f"""
            connections:
              main: {{sqlite: data.db}}
            state: {{odbc: {spec.target!r}, dialect: postgres}}
            """
        )
        yield "postgres"


def _wait(what: str, done: Callable[[], bool]) -> None:
    end = time.monotonic() + WAIT_LIMIT
    while not done():
        assert time.monotonic() < end, f"{what} did not happen"
        time.sleep(0.02)


def test_a_live_scheduler_whose_claim_was_taken_over_does_not_run_the_slot(
    project: Any, kind: str
) -> None:
    """Scheduler A claims the 10:00 slot and is about to start its run when it looks
    gone (PostgreSQL: its named session dropped, a network blip; SQLite: its pid reads
    dead). B takes the claim over and runs the slot. Then A's run reaches its first
    write: refused, said so, nothing recorded. The slot has exactly one run, B's."""
    pause = Paused()
    said_a: list[str] = []
    said_b: list[str] = []
    first = Scheduler(project.service(store=pause.opener()), log=said_a.append)
    first.claims.pid = dead_pid()  # SQLite: gone as soon as B looks; PostgreSQL: its name
    second = Scheduler(project.service(), log=said_b.append)
    now = SLOT + timedelta(seconds=5)
    try:
        first.tick(now)  # claimed, and its run started on its thread
        assert pause.reached.wait(WAIT_LIMIT), said_a
        first.claims.close()  # the blip: A's named session ends (PostgreSQL)
        with StateStore(project.library().config.state_location) as store:
            session = scheduler_session(first.claims.host, first.claims.pid)
            _wait("the end of A's session", lambda: _no_session(store, session))
        second.tick(now)
        second.run_due(now)
        pause.go.set()
        first.run_due(now)
    finally:
        pause.go.set()
        first.drain()
        second.drain()
    with StateStore(project.library().config.state_location) as store:
        rows = store._backend.query(
            "SELECT trigger, outcome, pid FROM runs WHERE runbook = 'tick' AND slot = ?",
            (SLOT_TEXT,),
        )
        assert [dict(row) for row in rows] == [
            {"trigger": "schedule", "outcome": "completed", "pid": second.claims.pid}
        ]
        assert store.claim_of("tick", SLOT) == {
            "host": second.claims.host,
            "pid": second.claims.pid,
            "claimed": "2026-06-01T10:00:05.000000Z",
        }
    taken = f"taken over from {first.claims.host} (pid {first.claims.pid})"
    assert sum(taken in line for line in said_b) == 1, said_b
    refused = (
        f"tick 2026-06-01T10:00Z (schedule): its claim was taken over by "
        f"{second.claims.host} (pid {second.claims.pid}) at 2026-06-01T10:00:05.000000Z; "
        "not run here"
    )
    assert sum(line.endswith(refused) for line in said_a) == 1, said_a


def _no_session(store: StateStore, name: str) -> bool:
    if store.dialect != "postgres":
        return True
    rows = store._backend.query(
        "SELECT 1 AS found FROM pg_stat_activity WHERE application_name = ?", (name,)
    )
    return not rows


def test_a_claimed_run_whose_start_cannot_be_written_is_not_run(project: Any) -> None:
    """A run of a claimed slot whose start cannot be recorded (the store unreachable
    just then) does not run unrecorded, as a manual run does: its claim is not
    confirmed, and another scheduler could take it over and run the slot too."""
    from runner.history.faults import unwritable
    from runner.service.runs import RunRequest

    project.sql("CREATE TABLE marks (n INTEGER)")
    project.runbook(
        "mark",
        """
        runbook: mark
        connection: main
        steps:
          - id: mark
            sql: INSERT INTO marks (n) VALUES (1)
        """,
    )

    def unreachable(config: Config) -> StateStore:
        raise unwritable("the store", "it is unreachable", "open")

    service = project.service(store=unreachable, warn=lambda message: None)
    request = RunRequest("mark", trigger="schedule", slot=SLOT, claim=Claim("web01", 7))
    with pytest.raises(ClaimLost, match=r"could not be recorded to confirm its claim \(the"):
        service.run(request)
    assert project.query("SELECT n FROM marks") == []
    manual = service.run(RunRequest("mark"))  # no slot: runs, unrecorded, as before
    assert manual.not_recorded and project.query("SELECT n FROM marks") == [(1,)]
