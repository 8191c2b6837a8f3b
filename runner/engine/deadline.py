"""A run's deadline: the longest the whole run may take (`deadline:`, `--deadline`).

Reaching it sets the run's abort signal with `by` DEADLINE_BY, so the machinery that
stops an aborted run cancels the running step: the SQLite progress handler, the ODBC
watchdog and the command step's process-group termination. Each attempt's timeout is
capped by the time left, and retry and `wait` sleeps end at the deadline, so the step's
own timeout fires at the deadline too. `end_at_deadline` then ends the run UNKNOWN with
what it measured, instead of `aborted` as for SIGTERM or Ctrl-C.

The clock is injected (Options.clock) so tests need not wait for real; a timer thread
sets the abort on time only when the clock is the real monotonic one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from runner.base.abort import RunAbort
from runner.base.durations import format_duration
from runner.base.errors import Aborted
from runner.base.status import Status, worst
from runner.language.model import Runbook
from runner.language.results import RunResult, StepResult

__all__ = ["DEADLINE_BY", "Deadline"]

#: The `by` of the run's abort when the deadline stopped it.
DEADLINE_BY = "the run's deadline"


class Deadline:
    """`seconds` from now on `clock`; reaching it aborts the run through `abort`."""

    def __init__(self, seconds: float, clock: Callable[[], float], abort: RunAbort) -> None:
        self.seconds = seconds
        self.clock = clock
        self.abort = abort
        self.at = clock() + seconds
        self._timer: threading.Timer | None = None

    @property
    def shown(self) -> str:
        return format_duration(self.seconds)

    def start(self) -> None:
        """On the real clock, a timer sets the abort on time even while a step does not
        return to the engine (a statement in a driver, a program that runs on)."""
        if self.clock is time.monotonic:
            self._timer = threading.Timer(self.left(), self.reach)
            self._timer.daemon = True
            self._timer.name = "runbook-deadline"
            self._timer.start()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer.join(timeout=5)  # a cancelled timer ends at once: none is left behind
            self._timer = None

    def left(self) -> float:
        return max(0.0, self.at - self.clock())

    def reach(self) -> None:
        self.abort.abort(DEADLINE_BY)

    @property
    def reached(self) -> bool:
        """Did the deadline (and not SIGTERM, Ctrl-C or a caller) stop the run?"""
        return self.abort.is_set() and self.abort.by == DEADLINE_BY

    def check(self) -> None:
        """Raise Aborted when the deadline has passed (or the run was aborted otherwise)."""
        if self.clock() >= self.at:
            self.reach()
        if self.abort.is_set():
            raise Aborted(self.abort.by)

    def cap(self, timeout: float) -> float:
        """A step's timeout (0: none) shortened to the time left; Aborted when none is."""
        self.check()
        left = self.left()
        return left if timeout <= 0 else min(timeout, left)

    def sleeper(self, sleep: Callable[[float], None]) -> Callable[[float], None]:
        """`sleep` that ends at the deadline, raising Aborted there."""

        def bounded(seconds: float) -> None:
            self.check()
            left = self.left()
            if seconds >= left:
                sleep(left)
                self.reach()
                raise Aborted(self.abort.by)
            sleep(seconds)

        return bounded


def end_at_deadline(runbook: Runbook, run: RunResult, deadline: Deadline) -> None:
    """The deadline stopped the run: it ends UNKNOWN (not `aborted`: it is a finished
    run, recorded and announced) with what it measured, its error naming the worst a
    finished step measured; the step it stopped is `timed_out` UNKNOWN, and the steps
    it never reached are `not_run`."""
    cut = f"cancelled: the run's deadline of {deadline.shown} was reached"
    during = None

    def mark(steps: list[StepResult]) -> None:
        for step in steps:
            if step.outcome in ("aborted", "running"):
                step.outcome, step.status, step.error = "timed_out", Status.UNKNOWN, cut
            mark(step.children)

    for step in run.steps:
        if step.outcome in ("aborted", "running"):
            during = during or step.id
    mark(run.steps)
    seen = {step.id for step in run.steps}
    missing = [s for s in (*runbook.steps, *runbook.finally_) if s.id not in seen]
    for rest in missing:
        run.steps.append(
            StepResult(
                rest.id,
                rest.label,
                rest.action,
                Status.SKIPPED,
                "not_run",
                origin=str(rest.origin),
                error=f"not run: the run's deadline of {deadline.shown} was reached",
            )
        )
    if during is not None:
        where = f"during step {during}"
    elif missing:
        where = f"before step {missing[0].id}"
    else:
        where = "after the last step"
    # UNKNOWN: the run could not measure everything; what it did measure is in its
    # steps (and their perfdata), and the error names the worst of it.
    measured = worst(step.status for step in run.steps if step.outcome != "timed_out")
    run.outcome, run.status = "completed", Status.UNKNOWN
    run.error = f"deadline of {deadline.shown} reached {where}"
    if measured in (Status.WARNING, Status.CRITICAL):
        run.error += f"; the steps before it measured {measured}"
