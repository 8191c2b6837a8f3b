"""The run lock between real processes: skip, wait, and a holder that is killed."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from integration.conftest import postgres  # noqa: F401 - the session's PostgreSQL database

from runner.history.locks import LockPair, RunbookBusy, RunLock, run_lock
from runner.history.store import StateStore
from runner.language.results import RunResult

REPO = Path(__file__).resolve().parent.parent

# A process that takes the lock when told "go", reports, and holds it until told
# "release"; before releasing it leaves a marker file, so a waiter can prove it only
# got the lock afterwards.
_CONTENDER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    sys.path.insert(0, sys.argv[1])
    from runner.history.locks import RunLock

    folder, mode, run_id, marker = Path(sys.argv[2]), sys.argv[3], sys.argv[4], Path(sys.argv[5])
    lock = RunLock(folder, "order-health", mode, run_id=run_id)
    print("ready", flush=True)
    sys.stdin.readline()
    if not lock.acquire():
        print("busy:", lock.holder(), flush=True)
        sys.exit(0)
    print("acquired", "after-marker" if marker.exists() else "before-marker", flush=True)
    sys.stdin.readline()
    marker.touch()
    lock.release()
    print("released", flush=True)
    """
)


class Contender:
    def __init__(self, folder: Path, mode: str, run_id: str, marker: Path) -> None:
        self.run_id = run_id
        self.process = subprocess.Popen(
            [sys.executable, "-c", _CONTENDER, str(REPO), str(folder), mode, run_id, str(marker)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.read() == "ready"

    @property
    def pid(self) -> int:
        return self.process.pid

    def tell(self, line: str) -> None:
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def read(self) -> str:
        return self.process.stdout.readline().rstrip("\n")

    def finish(self) -> int:
        self.process.stdin.close()
        return self.process.wait(timeout=30)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)


@pytest.fixture
def contenders(tmp_path: Path):
    started: list[Contender] = []

    def start(mode: str, run_id: str) -> Contender:
        contender = Contender(tmp_path / "locks", mode, run_id, tmp_path / "released")
        started.append(contender)
        return contender

    yield start
    for contender in started:
        contender.kill()


def test_exactly_one_of_two_processes_gets_the_lock_in_skip_mode(contenders) -> None:
    first, second = contenders("skip", "run-a"), contenders("skip", "run-b")
    first.tell("go")
    second.tell("go")

    answers = {first.read(): first, second.read(): second}

    assert len(answers) == 2
    winner = answers.pop("acquired before-marker")
    [(busy, loser)] = answers.items()
    # The loser may look in the instant between the winner's flock and its note of who
    # it is; then it can only say "another process" (the killed-holder test pins the
    # details down).
    host = socket.gethostname()
    assert busy == "busy: another process" or busy.startswith(
        f"busy: pid {winner.pid} on {host}, run {winner.run_id}, since "
    )
    assert loser.finish() == 0
    winner.tell("release")
    assert winner.read() == "released"


def test_wait_mode_gets_the_lock_after_the_holder_releases(contenders) -> None:
    holder = contenders("skip", "run-a")
    holder.tell("go")
    assert holder.read() == "acquired before-marker"
    waiter = contenders("wait", "run-b")
    waiter.tell("go")  # blocks in acquire() while the holder holds the lock

    holder.tell("release")

    assert holder.read() == "released"
    assert waiter.read() == "acquired after-marker"
    waiter.tell("release")
    assert waiter.read() == "released"


def test_a_killed_holder_releases_the_lock(contenders, tmp_path: Path) -> None:
    holder = contenders("skip", "run-crashing")
    holder.tell("go")
    assert holder.read() == "acquired before-marker"
    lock = RunLock(tmp_path / "locks", "order-health", "skip", run_id="run-next")

    assert lock.acquire() is False
    assert lock.holder().startswith(f"pid {holder.pid} on ")

    os.kill(holder.pid, signal.SIGKILL)
    holder.kill()  # reaps it

    assert lock.holder() is None  # its details are still in the file, but nobody holds it
    assert lock.acquire() is True
    assert lock.holder().startswith(f"pid {os.getpid()} on ")
    assert "run run-next" in lock.holder()
    lock.release()


# -- in one process: two RunLock objects are two open files, and contend like processes --


def test_context_manager_refuses_to_run_the_body_when_busy(tmp_path: Path) -> None:
    ran = []
    first = RunLock(tmp_path, "order-health", "skip", run_id="run-1")
    with first, pytest.raises(RunbookBusy) as caught, RunLock(tmp_path, "order-health", "skip"):
        ran.append("second body")
    assert ran == []
    message = caught.value.format_message()
    assert message.startswith(f"order-health is already running (pid {os.getpid()} on ")
    assert ", run run-1, since " in message


class FakeTime:
    """A clock and a sleep for a lock that waits: sleeping moves the clock on, at once.
    `at_pause` runs before the pause of that number (1-based), as if meanwhile."""

    def __init__(self, at_pause: dict[int, Any] | None = None) -> None:
        self.now = 1000.0
        self.pauses: list[float] = []
        self.at_pause = at_pause or {}

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.pauses.append(round(seconds, 6))
        self.now += seconds
        if len(self.pauses) in self.at_pause:
            self.at_pause[len(self.pauses)]()


def test_wait_with_a_timeout_gives_up(tmp_path: Path) -> None:
    fake = FakeTime()
    with RunLock(tmp_path, "order-health", "skip"):
        waiting = RunLock(
            tmp_path, "order-health", "wait", timeout=2.0, sleep=fake.sleep, clock=fake.clock
        )
        assert waiting.acquire() is False
        # Doubling pauses up to a second, the last cut short to try at the deadline.
        assert fake.pauses == [0.05, 0.1, 0.2, 0.4, 0.8, 0.45]
        with pytest.raises(RunbookBusy, match="gave up after waiting 2s"), waiting:
            pass


def test_wait_with_a_timeout_gets_the_lock_released_meanwhile(tmp_path: Path) -> None:
    holder = RunLock(tmp_path, "order-health", "skip")
    assert holder.acquire()
    fake = FakeTime(at_pause={3: holder.release})
    waiting = RunLock(
        tmp_path, "order-health", "wait", timeout=60, sleep=fake.sleep, clock=fake.clock
    )

    assert waiting.acquire() is True
    assert fake.pauses == [0.05, 0.1, 0.2]  # taken at the try after the holder let go
    waiting.release()


def test_a_holder_that_has_not_said_who_it_is_yet_is_given_a_moment(tmp_path: Path) -> None:
    def locked_silently(runbook: str) -> int:
        """The lock file as a holder has it in the instant between its flock and its write."""
        fd = os.open(tmp_path / f"{runbook}.lock", os.O_RDWR | os.O_CREAT)
        fcntl.flock(fd, fcntl.LOCK_EX)
        return fd

    def say_who(fd: int) -> None:
        os.pwrite(fd, json.dumps({"pid": 4242, "host": "web01", "run_id": "run-1"}).encode(), 0)

    speaking, silent = locked_silently("order-health"), locked_silently("other")
    try:
        fake = FakeTime(at_pause={3: lambda: say_who(speaking)})
        asking = RunLock(tmp_path, "order-health", sleep=fake.sleep, clock=fake.clock)
        assert asking.holder() == "pid 4242 on web01, run run-1"
        assert fake.pauses == [0.01, 0.01, 0.01]

        fake = FakeTime()
        asking = RunLock(tmp_path, "other", sleep=fake.sleep, clock=fake.clock)
        assert asking.holder() == "another process"  # it never said
        assert fake.pauses == [0.01] * 9
    finally:
        os.close(speaking)
        os.close(silent)


def test_release_lets_the_next_one_in_and_clears_the_details(tmp_path: Path) -> None:
    first = RunLock(tmp_path, "order-health", "skip", run_id="run-1")
    second = RunLock(tmp_path, "order-health", "skip", run_id="run-2")
    assert first.acquire()
    assert json.loads(first.path.read_text())["run_id"] == "run-1"
    first.release()

    assert first.path.read_text() == ""
    assert first.holder() is None
    assert second.acquire()
    second.release()


def test_other_runbooks_do_not_contend(tmp_path: Path) -> None:
    with RunLock(tmp_path, "order-health", "skip"):
        other = RunLock(tmp_path, "order-processing", "skip")
        assert other.acquire()
        other.release()


def test_allow_mode_takes_no_lock(tmp_path: Path) -> None:
    with RunLock(tmp_path, "order-health", "skip"):
        one, two = (RunLock(tmp_path, "order-health", "allow") for _ in range(2))
        assert one.acquire() and two.acquire()
        one.release()
        two.release()
    assert not (tmp_path / "allowed").exists()
    assert RunLock(tmp_path / "allowed", "order-health", "allow").acquire()
    assert not (tmp_path / "allowed").exists()


def test_a_runbook_name_cannot_escape_the_folder(tmp_path: Path) -> None:
    lock = RunLock(tmp_path / "locks", "../orders/health", "skip")
    assert lock.path.parent == tmp_path / "locks"
    assert lock.acquire()
    lock.release()


def test_unknown_mode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="one of skip, wait, allow, not 'queue'"):
        RunLock(tmp_path, "order-health", "queue")


# -- a pair of locks: this host's file, then the shared store's -----------------------------


def test_a_pair_takes_both_and_gives_back_the_first_when_the_second_is_busy(
    tmp_path: Path,
) -> None:
    here, shared = tmp_path / "host-a", tmp_path / "shared"
    with RunLock(shared, "order-health", "skip", run_id="run-elsewhere"):
        pair = LockPair(RunLock(here, "order-health", "skip"), RunLock(shared, "order-health"))

        assert pair.acquire() is False
        assert "run run-elsewhere" in pair.holder()
        # The local lock was given back: this host's next run is not blocked by it.
        assert RunLock(here, "order-health", "skip").holder() is None

    assert pair.acquire() is True
    assert RunLock(here, "order-health").holder() and RunLock(shared, "order-health").holder()
    pair.release()
    assert RunLock(here, "order-health").holder() is None
    assert RunLock(shared, "order-health").holder() is None


def test_run_lock_is_the_file_lock_alone_without_a_shared_store(tmp_path: Path) -> None:
    assert isinstance(run_lock(tmp_path, "order-health", "skip", state=None), RunLock)


# -- across hosts: the advisory lock of a PostgreSQL state store ----------------------------


@pytest.fixture
def pg_store(postgres: Any) -> Iterator[StateStore]:  # noqa: F811
    from test_state import postgres_schema

    for spec in postgres_schema(postgres):
        with StateStore(spec) as store:
            yield store


@pytest.mark.integration
def test_advisory_lock_names_its_holder_from_the_shared_history(pg_store: StateStore) -> None:
    holding = RunResult("20261124T091500Z-aaaa01", "order-health", host="web01",
                        started=datetime(2026, 11, 24, 9, 15, tzinfo=UTC))  # fmt: skip
    stale = RunResult("20261123T091500Z-dead01", "order-health", host="crashed01",
                      started=datetime(2026, 11, 23, 9, 15, tzinfo=UTC))  # fmt: skip
    pg_store.start_run(stale)  # a run whose host died: its row says running, it holds nothing
    first = pg_store.shared_lock("order-health", "skip", run_id=holding.run_id)
    second = pg_store.shared_lock("order-health", "skip", run_id="20261124T091501Z-bbbb02")
    other = pg_store.shared_lock("order-processing", "skip", run_id="20261124T091502Z-cccc03")
    assert second.holder() is None

    assert first.acquire()
    pg_store.start_run(holding)
    try:
        assert second.acquire() is False
        assert second.holder() == (
            f"pid {os.getpid()} on web01, run 20261124T091500Z-aaaa01, since 2026-11-24T09:15:00.000Z"
        )
        assert other.acquire()  # another runbook does not contend
        other.release()
    finally:
        first.release()

    assert second.holder() is None
    assert second.acquire()
    second.release()


@pytest.mark.integration
def test_advisory_lock_waits_with_a_timeout(pg_store: StateStore) -> None:
    first = pg_store.shared_lock("order-health", "skip", run_id="run-1")
    waiting = pg_store.shared_lock("order-health", "wait", run_id="run-2", timeout=3.0)
    fake = FakeTime()
    waiting.sleep, waiting.clock = fake.sleep, fake.clock
    assert first.acquire()
    try:
        assert waiting.acquire() is False
        assert fake.pauses == [0.05, 0.1, 0.2, 0.4, 0.8, 1.0, 0.45]
    finally:
        first.release()
    assert waiting.acquire() is True
    waiting.release()


@pytest.mark.integration
def test_advisory_lock_waiting_without_a_timeout_gets_it_when_released(
    pg_store: StateStore,
) -> None:
    first = pg_store.shared_lock("order-health", "skip", run_id="run-1")
    waiting = pg_store.shared_lock("order-health", "wait", run_id="run-2")
    fake = FakeTime(at_pause={8: first.release})
    waiting.sleep, waiting.clock = fake.sleep, fake.clock
    assert first.acquire()

    assert waiting.acquire() is True
    assert fake.pauses == [0.05, 0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0]
    waiting.release()


@pytest.mark.integration
def test_advisory_locks_of_stores_in_separate_schemas_do_not_contend(
    pg_store: StateStore,
    postgres: Any,  # noqa: F811
) -> None:
    from test_state import postgres_schema

    first = pg_store.shared_lock("order-health", "skip", run_id="run-1")
    same = pg_store.shared_lock("order-health", "skip", run_id="run-2")
    assert first.acquire()
    try:
        for spec in postgres_schema(postgres):  # a second store in the same database
            with StateStore(spec) as other_store:
                other = other_store.shared_lock("order-health", "skip", run_id="run-3")
                assert other.acquire(), "another store's run of the same runbook was held back"
                other.release()
        assert same.acquire() is False  # within one store the lock still holds
    finally:
        first.release()


def test_a_sqlite_store_has_no_shared_lock(tmp_path: Path) -> None:
    with StateStore(tmp_path / "runner.db") as store:
        assert store.shared_lock("order-health", "skip", run_id="run-1") is None
