"""The ODBC watchdog: cancels a statement past its deadline, and never one that ended.

A stand-in cursor records when `cancel()` comes: the watchdog is a thread of this
process and only calls `cursor.cancel()`, so no server is needed to race it.
"""

from __future__ import annotations

import random
import sys
import threading
import time

from runner.databases.watchdog import Watchdog


class _Cursor:
    """Says whether a cancel came while its statement ran, or after it had ended."""

    def __init__(self) -> None:
        self.running = False
        self.cancels_while_running = 0
        self.cancels_after_end: list[int] = []
        self.statement = 0

    def cancel(self) -> None:
        if self.running:
            self.cancels_while_running += 1
        else:
            self.cancels_after_end.append(self.statement)


def _watched(dog: Watchdog, abort: threading.Event | None = None) -> tuple[object, _Cursor]:
    watch = dog.register(abort)
    cursor = _Cursor()
    watch.cursor = cursor
    return watch, cursor


def test_a_statement_past_its_deadline_is_cancelled_as_timed_out() -> None:
    dog = Watchdog()
    watch, cursor = _watched(dog)
    dog.start(watch, 0.05)
    cursor.running = True
    deadline = time.monotonic() + 5
    while cursor.cancels_while_running == 0 and time.monotonic() < deadline:
        time.sleep(0.005)
    cursor.running = False
    assert dog.stop(watch) == "timeout"
    assert cursor.cancels_while_running == 1
    # The next statement starts clean: no leftover reason, no cancel.
    dog.start(watch, 10)
    assert dog.stop(watch) is None
    dog.unregister(watch)


def test_a_statement_without_a_time_limit_is_left_alone() -> None:
    dog = Watchdog()
    watch, cursor = _watched(dog)
    dog.start(watch, 0)
    cursor.running = True
    time.sleep(0.3)  # longer than the watchdog's longest sleep
    cursor.running = False
    assert dog.stop(watch) is None
    assert cursor.cancels_while_running == 0
    dog.unregister(watch)


class _TimedCursor:
    """A cancel that takes a moment, as a driver's does, and notes whether the statement
    had been declared over (its stop() returned) by the time the cancel was done."""

    def __init__(self) -> None:
        self.stopped = True
        self.cancels = 0
        self.late: list[int] = []  # statements a cancel was still busy with after stop()
        self.statement = 0

    def cancel(self) -> None:
        self.cancels += 1
        statement = self.statement
        time.sleep(0.001)
        if self.stopped or self.statement != statement:
            self.late.append(statement)


def test_an_ended_statement_is_never_cancelled_even_at_its_deadline() -> None:
    """Statements end right about at their deadline, hundreds of times, while the
    watchdog looks and CPython switches threads as often as it can: once stop() has
    returned no cancel is under way, and every statement a cancel hit is told so."""
    dog = Watchdog()
    watch = dog.register()
    cursor = _TimedCursor()
    watch.cursor = cursor
    cancelled = unreported = 0
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        # At least 1.5 s and 20 cancelled statements (a loaded machine may need longer
        # to produce them), never more than 30 s.
        started = time.monotonic()
        while (elapsed := time.monotonic() - started) < 1.5 or (cancelled < 20 and elapsed < 30):
            cursor.statement += 1
            before = cursor.cancels
            cursor.stopped = False
            dog.start(watch, 0.0005)  # shorter than a poll: the watchdog is woken for it
            # In the driver (the GIL is free): from well before the deadline to well past
            # it, so that many statements end right at it and some are surely cancelled.
            time.sleep(random.uniform(0.0002, 0.002))
            reason = dog.stop(watch)
            cursor.stopped = True
            if cursor.cancels > before:
                cancelled += 1
                unreported += reason != "timeout"
    finally:
        sys.setswitchinterval(interval)
        dog.unregister(watch)
    assert cancelled, "the watchdog never raced a statement: the test proves nothing"
    assert cursor.late == []
    assert unreported == 0


def test_an_abort_cancels_every_running_statement_of_its_run_and_no_other() -> None:
    dog = Watchdog()
    aborted, other_run = threading.Event(), threading.Event()
    first, first_cursor = _watched(dog, aborted)
    second, second_cursor = _watched(dog, aborted)
    bystander, bystander_cursor = _watched(dog, other_run)
    dog.start(first, 0)
    dog.start(second, 60)
    dog.start(bystander, 60)
    first_cursor.running = second_cursor.running = bystander_cursor.running = True
    aborted.set()
    deadline = time.monotonic() + 5
    while (
        first_cursor.cancels_while_running + second_cursor.cancels_while_running < 2
        and time.monotonic() < deadline
    ):
        time.sleep(0.01)
    first_cursor.running = second_cursor.running = False
    assert dog.stop(first) == "abort"
    assert dog.stop(second) == "abort"
    assert bystander_cursor.cancels_while_running == 0  # another run's statement goes on
    bystander_cursor.running = False
    assert dog.stop(bystander) is None
    for watch in (first, second, bystander):
        dog.unregister(watch)


def test_stop_waits_for_a_cancel_under_way() -> None:
    """A cancel that takes a while (a driver talking to the server) finishes before
    stop() returns, so the cursor is not reused under it."""
    dog = Watchdog()
    watch = dog.register()
    entered, release = threading.Event(), threading.Event()
    finished: list[str] = []

    class SlowCursor:
        def cancel(self) -> None:
            entered.set()
            release.wait(5)
            finished.append("cancel")

    watch.cursor = SlowCursor()
    dog.start(watch, 0.01)
    assert entered.wait(5)
    stopper = threading.Thread(target=lambda: finished.append(dog.stop(watch) or "none"))
    stopper.start()
    time.sleep(0.1)
    assert finished == []  # stop() is waiting for the cancel
    release.set()
    stopper.join(5)
    assert finished == ["cancel", "timeout"]
    dog.unregister(watch)
