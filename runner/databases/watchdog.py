"""The watchdog: one thread per process that cancels ODBC statements whose time is up or
whose run was aborted, since not every driver honours a query timeout and a Python signal
handler cannot run while the main thread waits inside the driver."""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import threading
import time
from typing import Any

_MAIN_THREAD = threading.main_thread().ident


class Watch:
    """One connection's running statement as the watchdog sees it.

    `deadline` is None while no statement runs, +inf for one without a time limit. The
    statement's side costs two attribute writes and a read, with no lock (see `stop`):
    the connection publishes a deadline by assigning it and takes it back by assigning
    None; the watchdog announces `cancelling` before it reads the deadline.
    """

    __slots__ = ("abort", "cancelling", "cursor", "deadline", "reason", "signals")

    def __init__(self, abort: threading.Event | None = None) -> None:
        self.abort = abort  # the run's: set, it cancels this statement
        self.signals = False  # SIGTERM/Ctrl-C to this process cancel it too (main thread)
        self.cursor: Any = None
        self.deadline: float | None = None
        self.reason: str | None = None  # "timeout" or "abort" once the watchdog cancelled
        self.cancelling = False  # the watchdog is looking at this statement, under its lock


class Watchdog:
    """Cancels running statements whose time is up or whose run was aborted.

    One daemon thread per process, looking at one `Watch` per open connection. While a
    statement runs on the main thread, Python's wakeup fd points at this thread's pipe,
    so the C-level signal handler wakes it even though the Python-level handler must
    wait for the driver to return.
    """

    POLL = 0.25  # longest sleep: how late a newly published deadline may be noticed

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.watches: set[Watch] = set()
        self.attached = 0  # open connections that route signals here
        self.previous_fd: int | None = None
        self.read_fd, self.write_fd = os.pipe()
        os.set_blocking(self.read_fd, False)
        os.set_blocking(self.write_fd, False)
        self.thread = threading.Thread(target=self._loop, name="runbook-odbc-watchdog", daemon=True)
        self.thread.start()

    def register(self, abort: threading.Event | None = None) -> Watch:
        watch = Watch(abort)
        with self.lock:
            self.watches.add(watch)
        return watch

    def unregister(self, watch: Watch) -> None:
        with self.lock:
            self.watches.discard(watch)

    def start(self, watch: Watch, timeout: float) -> None:
        """A statement starts on `watch.cursor`; cancel it after `timeout` s (0: never)."""
        watch.deadline = time.monotonic() + timeout if timeout else _NO_DEADLINE
        if timeout and timeout < self.POLL:
            os.write(self.write_fd, b"\0")  # wake up in time for a very short timeout

    def stop(self, watch: Watch) -> str | None:
        """The statement ended: "timeout" or "abort" when the watchdog cancelled it.

        Once this returns, no cancel is under way for the cursor, so it may run the next
        statement or be freed. Without a lock in the usual case: this side writes
        `deadline` and then reads `cancelling`; the watchdog writes `cancelling` and then
        reads `deadline` (both in that order, which the GIL keeps). So either the
        watchdog reads None and leaves the statement alone, or this side sees
        `cancelling` and waits for the watchdog's lock, under which it decides, cancels
        and sets `reason`.
        """
        watch.deadline = None
        if watch.cancelling:
            with self.lock:
                pass
        reason = watch.reason
        if reason is not None:
            watch.reason = None
        return reason

    def attach(self) -> bool:
        """Route SIGTERM/Ctrl-C here while an ODBC connection is open (main thread only):
        the C-level handler writes the signal to our pipe even while the main thread waits
        inside the driver, where the Python-level handler cannot run."""
        if threading.get_ident() != _MAIN_THREAD:
            return False
        with self.lock:
            self.attached += 1
            if self.attached > 1:
                return True
        try:
            self.previous_fd = signal.set_wakeup_fd(self.write_fd, warn_on_full_buffer=False)
        except ValueError:  # not the main interpreter
            self.previous_fd = None
        return True

    def detach(self) -> None:
        with self.lock:
            self.attached -= 1
            if self.attached > 0:
                return
        if self.previous_fd is not None:
            with contextlib.suppress(ValueError):  # only the main thread may restore it
                signal.set_wakeup_fd(self.previous_fd)
            self.previous_fd = None

    def _loop(self) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self.read_fd, selectors.EVENT_READ)
        while True:
            with self.lock:
                deadlines = [d for d in (w.deadline for w in self.watches) if d is not None]
            nearest = min(deadlines, default=None)
            wait = (
                self.POLL
                if nearest is None
                else max(0.0, min(self.POLL, nearest - time.monotonic()))
            )
            signalled = False
            if selector.select(wait):
                with contextlib.suppress(BlockingIOError):
                    received = os.read(self.read_fd, 512)
                    signalled = any(byte in (signal.SIGINT, signal.SIGTERM) for byte in received)
            now = time.monotonic()
            # Decide and cancel under the lock, announced through `cancelling`: once
            # stop() has returned, no cancel is under way for that statement.
            with self.lock:
                for watch in self.watches:
                    if watch.deadline is None:
                        continue
                    watch.cancelling = True  # before reading the deadline: see stop()
                    deadline = watch.deadline  # read once: the main thread may publish
                    aborted = (signalled and watch.signals) or (
                        watch.abort is not None and watch.abort.is_set()
                    )
                    if deadline is not None and (aborted or deadline <= now):
                        watch.reason = "abort" if aborted else "timeout"
                        watch.deadline = None
                        with contextlib.suppress(Exception):  # it may have just finished
                            watch.cursor.cancel()
                    watch.cancelling = False


_NO_DEADLINE = float("inf")


_WATCHDOG: Watchdog | None = None
_WATCHDOG_LOCK = threading.Lock()


def watchdog() -> Watchdog:
    global _WATCHDOG
    with _WATCHDOG_LOCK:
        if _WATCHDOG is None:
            _WATCHDOG = Watchdog()
        return _WATCHDOG
