"""One run of a runbook at a time, across processes: `concurrency: skip | wait | allow`.

The lock is `fcntl.flock` on `<folder>/<runbook>.lock`. The kernel holds it for the
open file and drops it when the process ends however it ends, so a crashed or killed
run never leaves a stale lock behind. The file also says who holds it (pid, host,
run id) for the message "order-health is already running (pid 1234 on web01, ...)".

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
import time
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from .errors import RunbookError

MODES = ("skip", "wait", "allow")
_UNSAFE_FILE_CHARS = re.compile(r"[^A-Za-z0-9._-]")
# Polling interval bounds while waiting with a timeout (flock itself cannot time out).
_FIRST_POLL = 0.05
_LONGEST_POLL = 1.0
_DETAILS_TRIES = 10


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
    """

    def __init__(
        self,
        folder: Path,
        runbook: str,
        mode: str = "skip",
        *,
        timeout: float | None = None,
        run_id: str | None = None,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"concurrency must be one of {', '.join(MODES)}, not {mode!r}")
        self.runbook = runbook
        self.mode = mode
        self.timeout = timeout
        self.run_id = run_id
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
                return _describe(_read_holder_soon(fd))
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None  # free: any text left in the file is from a holder that died
        finally:
            os.close(fd)

    def __enter__(self) -> RunLock:
        started = time.monotonic()
        if not self.acquire():
            waited = time.monotonic() - started if self.mode == "wait" else None
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
        deadline = time.monotonic() + max(self.timeout or 0.0, 0.0)
        pause = _FIRST_POLL
        while (left := deadline - time.monotonic()) > 0:
            time.sleep(min(pause, left))
            if _try_lock(fd):
                return True
            pause = min(pause * 2, _LONGEST_POLL)
        return False

    def _write_holder(self, fd: int) -> None:
        details = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "run_id": self.run_id,
            "since": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(details).encode(), 0)


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _read_holder_soon(fd: int) -> dict[str, object]:
    """The holder's details, allowing it the moment between its flock and its write."""
    for _ in range(_DETAILS_TRIES):
        details = _read_holder(fd)
        if details:
            return details
        time.sleep(_FIRST_POLL / 5)
    return {}


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
