"""The abort signal of one run."""

from __future__ import annotations

import threading


class RunAbort(threading.Event):
    """Set to stop one run: its running statement is cancelled and rolled back, and the
    run ends aborted. Safe to set from a signal handler or another thread; the first
    reason given is kept (`by`: "SIGTERM", "Ctrl-C", "the scheduler", ...)."""

    by = ""

    def abort(self, by: str) -> None:
        if not self.by:
            self.by = by
        self.set()
