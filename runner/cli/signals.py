"""SIGTERM and Ctrl-C during `runbook run`: they abort the run, which rolls back and records it.

The handler sets the run's abort Event (so a statement running in a database driver is
cancelled by the watchdog, which the C-level handler wakes) and raises where Python
code runs, as Ctrl-C does. The handlers are the command line's: an embedding program or
the scheduler keeps its own and sets the Event itself.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from runner.base.abort import RunAbort
from runner.base.errors import Aborted


@contextmanager
def aborting() -> Iterator[RunAbort]:
    """An abort Event for one run, set by SIGTERM (raising Aborted) and Ctrl-C
    (raising KeyboardInterrupt) while the block runs."""
    abort = RunAbort()
    if threading.current_thread() is not threading.main_thread():
        yield abort
        return

    def on_sigterm(signum: int, frame: Any) -> None:
        abort.abort("SIGTERM")
        raise Aborted("SIGTERM")

    def on_sigint(signum: int, frame: Any) -> None:
        abort.abort("Ctrl-C")
        raise KeyboardInterrupt()

    previous_term = signal.signal(signal.SIGTERM, on_sigterm)
    previous_int = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield abort
    finally:
        signal.signal(signal.SIGTERM, previous_term)
        signal.signal(signal.SIGINT, previous_int)
