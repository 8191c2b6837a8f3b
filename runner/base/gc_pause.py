"""Pausing Python's cyclic garbage collector around work that builds many objects.

Loading and checking a runbook creates a few objects per YAML node (marked dicts, marks,
model objects, problems) and no reference cycles. The collector, which runs every few
hundred allocations, would traverse the young ones again and again: on a 10,000-step
file that was about 40% of `validate`. Reference counting still frees everything as
usual while the collector waits; it runs again when the outermost pause ends.
"""

from __future__ import annotations

import _thread  # threading's own lock, without threading: `runbook --help` imports this
import gc
import time
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


#: How many blocks hold full collections off now (runs of a scheduler overlap), and the
#: thresholds to put back when the last one ends.
_holding = 0
_thresholds: tuple[int, int, int] | None = None
_holding_lock = _thread.allocate_lock()
#: A third threshold no run reaches: the collector counts young collections up to it.
_NEVER = 1 << 30
#: While blocks overlap without a gap (a busy scheduler), a block that ends runs a full
#: collection itself when the last one is this many seconds ago, so that cyclic garbage
#: that reached the oldest generation is freed all the same.
FULL_AT_LEAST_EVERY = 600.0
_last_full = 0.0
#: The clock of FULL_AT_LEAST_EVERY (tests set another).
monotonic = time.monotonic


@contextmanager
def young_collections_only() -> Iterator[None]:
    """Hold full (generation-2) collections off for the block; young ones go on.

    A run keeps its model and every result so far: a full collection walks all of it,
    and a 10,000-step run met one or two where a 1,000-step one met none, which made its
    cost per step 1.2-1.4x (bench/linear.py, issue 11, point 4). Garbage cycles a run
    makes (an exception and its frames) mostly die young and are freed by the young
    collections as before; a cycle that outlives two of them waits for the first full
    collection after the run. Blocks may overlap (parallel runs in one process): the
    thresholds are put back when the last one ends, and a block that ends while others
    go on collects in full itself every FULL_AT_LEAST_EVERY seconds.
    """
    global _holding, _thresholds, _last_full
    with _holding_lock:
        if _holding == 0:
            _thresholds = gc.get_threshold()
            gc.set_threshold(_thresholds[0], _thresholds[1], _NEVER)
            _last_full = monotonic()
        _holding += 1
    try:
        yield
    finally:
        with _holding_lock:
            _holding -= 1
            if _holding == 0 and _thresholds is not None:
                gc.set_threshold(*_thresholds)
                collect = False
            else:
                collect = monotonic() - _last_full >= FULL_AT_LEAST_EVERY
                if collect:
                    _last_full = monotonic()
        if collect:
            gc.collect()
