"""One run of a runbook at a time, across processes: `concurrency: skip | wait | allow`.

The lock is `fcntl.flock` on `<folder>/<runbook>.lock`. The kernel holds it for the
open file and drops it when the process ends however it ends, so a crashed or killed
run never leaves a stale lock behind. The file also says who holds it (pid, host,
run id) for the message "order-health is already running (pid 1234 on web01, ...)".

With a shared PostgreSQL state store (`state: {odbc: ...}`) a second lock holds across
hosts: AdvisoryRunLock, a session-level advisory lock on a connection of its own, kept
for the whole run. The server drops it when the session ends, however it ends, so a
host that crashed or lost its network never leaves a stale lock either. The local
file lock is taken first (cheap, and it keeps one host's processes from even asking).
The other side of that: a run whose lock connection drops (a restarted server, a
killed session, a network cut) has lost its lock while it still runs. `verify()`,
which the engine calls between steps, notices, takes the lock again on a new
connection, and raises LockLost when another process got it first.

The file is never deleted: unlinking a lock file lets a third process lock a new file
of the same name while the second still holds the old one, and then two runs go.
The descriptor is not inherited by programs a `command:` step starts (Python opens
files non-inheritable), so a daemon started by a step cannot keep the lock after us.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import socket
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from runner.base.errors import LockLost, RunbookError
from runner.dialects.errors import DriverError

if TYPE_CHECKING:
    from tenacity import RetryCallState

MODES = ("skip", "wait", "allow")
_UNSAFE_FILE_CHARS = re.compile(r"[^A-Za-z0-9._-]")
# Polling while waiting with a timeout (flock itself cannot time out): the first pause,
# doubled after each try up to the longest.
_FIRST_POLL = 0.05
_LONGEST_POLL = 1.0
# Reading who holds a lock allows the holder the moment between taking it and writing it.
_DETAILS_TRIES = 10
_DETAILS_PAUSE = _FIRST_POLL / 5
Sleep = Callable[[float], None]
Clock = Callable[[], float]
T = TypeVar("T")
# How often, at most, a running run asks whether it still holds its lock (between steps).
VERIFY_EVERY = 1.0


class RunbookBusy(RunbookError):
    """Another process is running this runbook (mode skip, or wait that timed out)."""

    def __init__(self, runbook: str, holder: str | None, waited: float | None = None) -> None:
        self.runbook = runbook
        self.holder = holder
        self.waited = waited
        who = f" ({holder})" if holder else ""
        after = f"; gave up after waiting {waited:g}s" if waited is not None else ""
        super().__init__(f"{runbook} is already running{who}{after}")


class RunLock:
    """The cross-process lock of one runbook.

    `acquire()` returns True once the lock is held; in mode `skip` it returns False at
    once when another process holds it, in mode `wait` it blocks (up to `timeout`
    seconds when given), in mode `allow` it takes no lock at all. As a context manager
    it raises RunbookBusy instead of returning False, so a body never runs unlocked.
    Waiting reads `clock` and pauses with `sleep`, which tests swap for a fake pair.
    """

    def __init__(
        self,
        folder: Path,
        runbook: str,
        mode: str = "skip",
        *,
        timeout: float | None = None,
        run_id: str | None = None,
        sleep: Sleep = time.sleep,
        clock: Clock = time.monotonic,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"concurrency must be one of {', '.join(MODES)}, not {mode!r}")
        self.runbook = runbook
        self.mode = mode
        self.timeout = timeout
        self.run_id = run_id
        self.sleep = sleep
        self.clock = clock
        self.path = Path(folder) / f"{_UNSAFE_FILE_CHARS.sub('_', runbook)}.lock"
        self._fd: int | None = None
        self._held = False

    @property
    def held(self) -> bool:
        return self._held

    def acquire(self) -> bool:
        if self._held:
            return True
        if self.mode == "allow":
            self._held = True
            return True
        fd = self._open()
        try:
            got = self._lock(fd)
        except BaseException:  # Ctrl-C while waiting: do not leak the descriptor
            os.close(fd)
            raise
        if not got:
            os.close(fd)
            return False
        self._fd = fd
        self._held = True
        self._write_holder(fd)
        return True

    def release(self) -> None:
        if not self._held:
            return
        self._held = False
        fd, self._fd = self._fd, None
        if fd is None:  # mode allow
            return
        try:
            # Cleared before unlocking so the next holder never shows our details.
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def verify(self, before: str = "") -> str | None:
        """Nothing to check: the kernel holds an flock for as long as the file is open."""
        return None

    def holder(self) -> str | None:
        """Who holds the lock now, e.g. "pid 1234 on web01, run 20261124T...-ab12cd,
        since 2026-11-24T09:15:00Z"; None when nobody does."""
        if self._held and self._fd is not None:
            return _describe(_read_holder(self._fd))
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return _describe(_read_holder_soon(fd, self.sleep))
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None  # free: any text left in the file is from a holder that died
        finally:
            os.close(fd)

    def __enter__(self) -> RunLock:
        started = self.clock()
        if not self.acquire():
            waited = self.clock() - started if self.mode == "wait" else None
            raise RunbookBusy(self.runbook, self.holder(), waited)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()

    def _open(self) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)

    def _lock(self, fd: int) -> bool:
        if self.mode == "wait" and self.timeout is None:
            fcntl.flock(fd, fcntl.LOCK_EX)
            return True
        if _try_lock(fd):
            return True
        if self.mode == "skip":
            return False
        return _poll(lambda: _try_lock(fd), self.timeout or 0.0, self.sleep, self.clock)

    def _write_holder(self, fd: int) -> None:
        details = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "run_id": self.run_id,
            "since": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(details).encode(), 0)


class Lock(Protocol):
    """What Engine.run needs of a run lock."""

    def acquire(self) -> bool: ...

    def release(self) -> None: ...

    def holder(self) -> str | None: ...

    def verify(self, before: str = "") -> str | None:
        """Check that the lock is still held (`before` names the next step); a note when
        it was lost and taken again, LockLost when it cannot be taken again."""
        ...


def run_lock(
    folder: Path,
    runbook: str,
    mode: str = "skip",
    *,
    run_id: str | None = None,
    timeout: float | None = None,
    state: Any = None,
) -> Lock:
    """The lock of one run: the local file lock, and the state store's shared lock when
    the store is shared between hosts (`state.shared_lock`, None for a SQLite store)."""
    local = RunLock(folder, runbook, mode, timeout=timeout, run_id=run_id)
    shared = getattr(state, "shared_lock", None)
    remote = shared(runbook, mode, run_id=run_id, timeout=timeout) if shared else None
    return local if remote is None else LockPair(local, remote)


class LockPair:
    """Two locks taken in order (this host's, then the shared one) and released in reverse."""

    def __init__(self, first: Lock, second: Lock) -> None:
        self.first = first
        self.second = second
        self._blocked_by: Lock | None = None

    def acquire(self) -> bool:
        self._blocked_by = None
        if not self.first.acquire():
            self._blocked_by = self.first
            return False
        try:
            got = self.second.acquire()
        except BaseException:
            self.first.release()
            raise
        if not got:
            self.first.release()
            self._blocked_by = self.second
        return got

    def release(self) -> None:
        try:
            self.second.release()
        finally:
            self.first.release()

    def holder(self) -> str | None:
        if self._blocked_by is not None:
            return self._blocked_by.holder()
        return self.first.holder() or self.second.holder()

    def verify(self, before: str = "") -> str | None:
        notes = [note for note in (self.first.verify(before), self.second.verify(before)) if note]
        return "; ".join(notes) or None


class LockVerifier:
    """`verify(before=step id)` between steps, at most every `every` seconds, so a run of
    many short steps pays nothing and a long one asks after each step. Only the main
    thread asks (for_each items running in threads leave it to the loop around them).
    Notes of a lock lost and taken again collect in `notes`; LockLost propagates."""

    def __init__(
        self, lock: Lock, every: float | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.lock = lock
        self.every = VERIFY_EVERY if every is None else every
        self.notes: list[str] = []
        self._clock = clock
        self._next = clock() + self.every

    def __call__(self, before: str) -> None:
        if self._clock() < self._next or threading.current_thread() is not _MAIN_THREAD:
            return
        note = self.lock.verify(before)
        self._next = self._clock() + self.every
        if note:
            self.notes.append(note)


_MAIN_THREAD = threading.main_thread()
Connect = Callable[[str], Any]


class AdvisoryRunLock:
    """The lock of one runbook across hosts, in the shared PostgreSQL state store.

    `connect(application_name)` opens a new pyodbc connection (autocommit) to the
    store's database. The lock is `pg_try_advisory_lock(key)` on it, polled (mode wait)
    rather than `pg_advisory_lock`, so Ctrl-C and SIGTERM are heard while waiting and a
    timeout is possible. The session is named "runbook run <run id>" so that another
    host finds who holds the lock in pg_locks and pg_stat_activity, and the run's row
    in `runs` says where it runs; stale 'running' rows of crashed runs never confuse it.
    Waiting reads `clock` and pauses with `sleep`, which tests swap for a fake pair.
    """

    def __init__(
        self,
        connect: Connect,
        runbook: str,
        mode: str = "skip",
        *,
        timeout: float | None = None,
        run_id: str | None = None,
        sleep: Sleep = time.sleep,
        clock: Clock = time.monotonic,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"concurrency must be one of {', '.join(MODES)}, not {mode!r}")
        from runner.history.backends import advisory_key

        self.runbook = runbook
        self.mode = mode
        self.timeout = timeout
        self.run_id = run_id
        self.key = advisory_key(f"run-lock:{runbook}")
        self.sleep = sleep
        self.clock = clock
        self._connect = connect
        self._conn: Any = None
        self._held = False
        self._held_at: datetime | None = None  # last seen held: acquired or verified

    @property
    def held(self) -> bool:
        return self._held

    def acquire(self) -> bool:
        if self._held:
            return True
        if self.mode == "allow":
            self._held = True
            return True
        from runner.history.backends import LOCK_APPLICATION

        conn = self._connect(f"{LOCK_APPLICATION}{self.run_id or ''}")
        try:
            got = self._lock(conn)
        except BaseException:
            conn.close()
            raise
        if not got:
            conn.close()
            return False
        self._conn, self._held, self._held_at = conn, True, datetime.now(UTC)
        return True

    def verify(self, before: str = "") -> str | None:
        """Whether the session holding the lock still does. When it is gone (a restarted
        server, a killed session, a network cut), the server has let the lock go while
        this run goes on: take it again on a new connection and say so (with any run
        that started meanwhile), or raise LockLost when another process holds it now or
        the store cannot be asked. One round trip while all is well."""
        if not self._held or self._conn is None:  # not taken, or mode allow
            return None
        now = datetime.now(UTC)
        try:
            if _holds_advisory(self._conn, self.key):
                self._held_at = now
                return None
            cause = "its session no longer held it"
        except Exception as error:
            cause = f"its connection to the state store dropped: {_error_text(error)}"
        with suppress(Exception):
            self._conn.close()
        self._conn = None
        where = f" before step {before!r}" if before else ""
        lost = f"{self.runbook} lost its cross-host lock{where} ({cause})"
        stop = "; the run stops here so that two runs never overlap"
        from runner.history.backends import LOCK_APPLICATION

        try:
            conn = self._connect(f"{LOCK_APPLICATION}{self.run_id or ''}")
        except Exception as error:
            self._held = False
            raise LockLost(
                f"{lost} and cannot take it again ({_error_text(error)}){stop}"
            ) from None
        try:
            got = self._try(conn)
            holder = None if got else _advisory_holder(conn, self.key)
        except BaseException as error:
            self._held = False
            with suppress(Exception):
                conn.close()
            if not isinstance(error, Exception):  # Ctrl-C, SIGTERM: theirs to handle
                raise
            raise LockLost(
                f"{lost} and cannot take it again ({_error_text(error)}){stop}"
            ) from None
        if not got:
            self._held = False
            with suppress(Exception):
                conn.close()
            who = _describe(holder) if holder else "another process"
            raise LockLost(f"{lost}, and {who} holds it now{stop}")
        self._conn, since, self._held_at = conn, self._held_at or now, now
        note = f"{lost} and took it again"
        try:
            meanwhile = _runs_since(conn, self.runbook, since, self.run_id)
        except Exception:  # the lock is held again; only the account is incomplete
            return f"{note}; which runs started meanwhile could not be read"
        if meanwhile:
            note += f"; meanwhile {', '.join(meanwhile)} started"
        return note

    def release(self) -> None:
        if not self._held:
            return
        self._held = False
        conn, self._conn = self._conn, None
        if conn is None:  # mode allow
            return
        # Closing the session releases the lock anyway; unlocking first says so at once.
        with suppress(Exception):
            conn.execute("SELECT pg_advisory_unlock(?)", self.key)
        with suppress(Exception):
            conn.close()

    def holder(self) -> str | None:
        """Who holds the lock: "pid 1234 on web01, run 2026...-ab12cd, since ..."; None
        when nobody does."""
        conn = self._conn if self._held and self._conn is not None else self._connect("runbook")
        try:
            # The holder locks before it records its run: allow it that moment.
            details = _soon(
                lambda: _advisory_holder(conn, self.key),
                lambda found: found is None or bool(found.get("pid")),
                self.sleep,
            )
            if details is None:
                return None
            if details.get("pid"):
                return _describe(details)
            run = details.get("run_id")
            return f"another process, run {run}" if run else "another process"
        finally:
            if conn is not self._conn:
                with suppress(Exception):
                    conn.close()

    def _lock(self, conn: Any) -> bool:
        if self._try(conn):
            return True
        if self.mode == "skip":
            return False
        return _poll(lambda: self._try(conn), self.timeout, self.sleep, self.clock)

    def _try(self, conn: Any) -> bool:
        # CASE: psqlodbc hands booleans over as text unless BoolsAsChar=0.
        row = conn.execute(
            "SELECT CASE WHEN pg_try_advisory_lock(?) THEN 1 ELSE 0 END", self.key
        ).fetchone()
        return bool(row and int(row[0]))


def _key_halves(key: int) -> tuple[int, int]:
    """pg_locks shows a bigint advisory key as two unsigned 32-bit halves."""
    return (key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF


def _holds_advisory(conn: Any, key: int) -> bool:
    """Whether the session of `conn` holds advisory lock `key` (raises if it is gone)."""
    high, low = _key_halves(key)
    row = conn.execute(
        "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
        "AND objsubid = 1 AND pid = pg_backend_pid() "
        "AND classid::bigint = ? AND objid::bigint = ?",
        high,
        low,
    ).fetchone()
    return bool(row and int(row[0]))


def _runs_since(conn: Any, runbook: str, since: datetime, run_id: str | None) -> list[str]:
    """Other runs of `runbook` recorded as started after `since` (not skipped ones):
    "run 2026...-ab12cd on web02"."""
    from runner.base.clock import utc_text

    rows = conn.execute(
        "SELECT run_id, host FROM runs WHERE runbook = ? AND started >= ? AND run_id <> ? "
        "AND outcome <> 'skipped' ORDER BY started",
        runbook,
        utc_text(since),
        run_id or "",
    ).fetchall()
    return [f"run {row[0]} on {row[1]}" if row[1] else f"run {row[0]}" for row in rows]


def _error_text(error: BaseException) -> str:
    """The first line of a driver's message, without pyodbc's (sqlstate, ...) tuple, the
    [sqlstate][driver] tags or the name of the ODBC call: what a reader needs to know."""
    return DriverError.of(error).first_line or type(error).__name__


def _advisory_holder(conn: Any, key: int) -> dict[str, object] | None:
    """The run holding advisory lock `key`: {"run_id", and from `runs` "pid", "host",
    "since"}; None when nobody holds it."""
    from runner.history.backends import LOCK_APPLICATION

    high, low = _key_halves(key)
    found = conn.execute(
        "SELECT a.application_name FROM pg_locks AS l "
        "JOIN pg_stat_activity AS a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
        "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
        "AND l.classid::bigint = ? AND l.objid::bigint = ?",
        high,
        low,
    ).fetchone()
    if found is None:
        return None
    name = str(found[0] or "")
    run_id = name[len(LOCK_APPLICATION) :] if name.startswith(LOCK_APPLICATION) else ""
    if not run_id:
        return {}
    row = conn.execute("SELECT pid, host, started FROM runs WHERE run_id = ?", run_id).fetchone()
    if row is None:
        return {"run_id": run_id}
    since = str(row[2] or "")[:19] + "Z" if row[2] else None
    return {"pid": row[0], "host": row[1], "run_id": run_id, "since": since}


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _poll(attempt: Callable[[], bool], timeout: float | None, sleep: Sleep, clock: Clock) -> bool:
    """Whether `attempt` returned True before `timeout` seconds (None: no limit) passed on
    `clock`. It is tried again after _FIRST_POLL seconds, then twice as long each time up
    to _LONGEST_POLL, the last pause cut short to try once more at the deadline."""
    from tenacity import Retrying, retry_if_result, stop_never, wait_exponential

    backoff = wait_exponential(multiplier=_FIRST_POLL, max=_LONGEST_POLL)
    if timeout is None:
        stop: Any = stop_never
        wait: Any = backoff
    else:
        deadline = clock() + max(timeout, 0.0)

        def stop(state: Any) -> bool:
            return clock() >= deadline

        def wait(state: Any) -> float:
            return min(backoff(state), deadline - clock())

    retrying = Retrying(
        stop=stop,
        wait=wait,
        retry=retry_if_result(lambda got: not got),
        sleep=sleep,
        retry_error_callback=lambda state: False,
    )
    return bool(retrying(attempt))


def _soon(read: Callable[[], T], ready: Callable[[T], bool], sleep: Sleep) -> T:
    """What `read` returns once `ready` holds for it, or its last answer after
    _DETAILS_TRIES reads _DETAILS_PAUSE apart."""
    from tenacity import Retrying, retry_if_result, stop_after_attempt, wait_fixed

    retrying = Retrying(
        stop=stop_after_attempt(_DETAILS_TRIES),
        wait=wait_fixed(_DETAILS_PAUSE),
        retry=retry_if_result(lambda found: not ready(found)),
        sleep=sleep,
        retry_error_callback=_last_answer,
    )
    return retrying(read)


def _last_answer(state: RetryCallState) -> Any:
    """When the tries run out, the last read's answer (not tenacity's RetryError)."""
    assert state.outcome is not None  # called after an attempt, which has an outcome
    return state.outcome.result()


def _read_holder_soon(fd: int, sleep: Sleep) -> dict[str, object]:
    """The holder's details, allowing it the moment between its flock and its write."""
    return _soon(lambda: _read_holder(fd), bool, sleep)


def _read_holder(fd: int) -> dict[str, object]:
    try:
        text = os.pread(fd, 4096, 0).decode("utf-8", "replace")
        details = json.loads(text) if text.strip() else {}
    except (OSError, ValueError):
        details = {}
    return details if isinstance(details, dict) else {}


def _describe(details: dict[str, object]) -> str:
    # Empty between another process's flock and its write: still held, details unknown.
    if not details.get("pid"):
        return "another process"
    text = f"pid {details['pid']}"
    if details.get("host"):
        text += f" on {details['host']}"
    if details.get("run_id"):
        text += f", run {details['run_id']}"
    if details.get("since"):
        text += f", since {details['since']}"
    return text
