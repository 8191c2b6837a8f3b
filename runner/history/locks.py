"""One run of a runbook at a time, across processes: `concurrency: skip | wait | allow`.

The lock is `fcntl.flock` on `<folder>/<runbook>.lock`. The kernel holds it for the
open file and drops it when the process ends however it ends, so a crashed or killed
run never leaves a stale lock behind. The file also says who holds it (pid, host,
run id) for the message "order-health is already running (pid 1234 on web01, ...)".

With a shared PostgreSQL state store (`state: {odbc: ...}`) a second lock holds across
hosts: AdvisoryRunLock (history/advisory.py), a session-level advisory lock on a
connection of its own, kept for the whole run. The server drops it when the session
ends, however it ends, so a host that crashed or lost its network never leaves a stale
lock either. The local file lock is taken first (cheap, and it keeps one host's
processes from even asking).
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
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

from runner.base.clock import utc_text
from runner.base.errors import RunbookError
from runner.base.hostname import hostname
from runner.history.waiting import MODES, Clock, Sleep, describe_holder, poll, soon

if TYPE_CHECKING:
    pass

_UNSAFE_FILE_CHARS = re.compile(r"[^A-Za-z0-9._-]")
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
        with suppress(OSError):  # a full disk: the flock holds; only "who" goes unsaid
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
            with suppress(OSError):  # opened read-only: there are none
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
            return describe_holder(_read_holder(self._fd))
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return describe_holder(_read_holder_soon(fd, self.sleep))
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
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            if not self.path.is_file():
                raise
            # A read-only var/ (or a full one): flock needs no write, so the lock holds
            # on the file a run made before, without its holder's details.
            return os.open(self.path, os.O_RDONLY)

    def _lock(self, fd: int) -> bool:
        if self.mode == "wait" and self.timeout is None:
            fcntl.flock(fd, fcntl.LOCK_EX)
            return True
        if _try_lock(fd):
            return True
        if self.mode == "skip":
            return False
        return poll(lambda: _try_lock(fd), self.timeout or 0.0, self.sleep, self.clock)

    def _write_holder(self, fd: int) -> None:
        details = {
            "pid": os.getpid(),
            "host": hostname(),
            "run_id": self.run_id,
            "since": utc_text(datetime.now(UTC)),  # shown as the outputs' one format
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(details).encode(), 0)


class Lock(Protocol):
    """What the run service needs of a run lock."""

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


_MAIN_THREAD = threading.main_thread()


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


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _read_holder_soon(fd: int, sleep: Sleep) -> dict[str, object]:
    """The holder's details, allowing it the moment between its flock and its write."""
    return soon(lambda: _read_holder(fd), bool, sleep)


def _read_holder(fd: int) -> dict[str, object]:
    try:
        text = os.pread(fd, 4096, 0).decode("utf-8", "replace")
        details = json.loads(text) if text.strip() else {}
    except (OSError, ValueError):
        details = {}
    return details if isinstance(details, dict) else {}
