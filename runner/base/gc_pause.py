"""Pausing Python's cyclic garbage collector around work that builds many objects.

Loading and checking a runbook creates a few objects per YAML node (marked dicts, marks,
model objects, problems) and no reference cycles. The collector, which runs every few
hundred allocations, would traverse the young ones again and again: on a 10,000-step
file that was about 40% of `validate`. Reference counting still frees everything as
usual while the collector waits; it runs again when the outermost pause ends.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused_gc() -> Iterator[None]:
    """Hold the cyclic collector off for the block (nested pauses are harmless)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
