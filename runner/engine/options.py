"""How one run walks: its mode, how it asks and waits, and what can stop it.

Its own module because both halves of the engine read it: the walker (walker.py) and
the composite forms it inherits (composites.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Protocol

from runner.base.abort import RunAbort
from runner.base.structs import Struct, field

__all__ = ["Options", "Progress"]


class Progress(Protocol):
    """Told where a run is, for a live progress line (reports/progress.py). Called from
    the walking thread, and from worker threads for `for_each` with `concurrency`."""

    def step(self, label: str) -> None:
        """A step starts."""

    def items(self, label: str, done: int, total: int) -> None:
        """A `for_each` step has `done` of its `total` items behind it (0 as it starts)."""


class Options(Struct):
    """How one run walks: its mode, how it asks and waits, and what can stop it."""

    mode: str = "run"  # run | dry-run | rehearse
    assume_yes: bool = False
    interactive: bool | None = None  # None: ask when stdin is a terminal
    trigger: str = "manual"
    connection_overrides: Mapping[str, str] = field(default_factory=dict)
    sleep: Callable[[float], None] = time.sleep
    ask: Callable[[str], str] = input
    log: Callable[[str], None] = lambda message: None  # progress lines; the CLI's --verbose
    environ: Mapping[str, str] | None = None
    # Set from anywhere (a signal handler, another thread) to stop this run: the running
    # statement is cancelled and rolled back, and the run ends aborted. One per run.
    abort: RunAbort = field(default_factory=RunAbort)
    # The longest the whole run may take, in seconds (None or 0: no limit); reaching it
    # cancels the running step and ends the run UNKNOWN (engine/deadline.py). `clock`
    # measures it: monotonic seconds, injected by tests.
    deadline: float | None = None
    clock: Callable[[], float] = time.monotonic
    # Keep every for_each item in full (`--all-items` shows them all); otherwise OK items
    # are folded into counts (engine/items.py).
    all_items: bool = False
    # Where the run is, for a live progress line on a terminal (None: nobody listens).
    progress: Progress | None = None
