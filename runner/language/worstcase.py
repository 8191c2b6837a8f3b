"""A runbook's worst case: the longest its steps may take, from what is written.

Each single step may take its timeout on every attempt, plus the waits between attempts
(the retry policy's backoff, as engine/retry.py waits them); groups add up their steps,
a transaction is attempted as a whole, a `for_each` over a written list counts its
items (in batches of `concurrency`), one over an expression counts one item and the
total is then "at least". `validate` warns when the worst case exceeds the run's
deadline or the time between two runs of its schedule; `show` prints it.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache

from runner.base.durations import format_duration
from runner.base.errors import Problem
from runner.language.model import RetryPolicy, Runbook, Step

__all__ = ["WorstCase", "backoff", "problems", "schedule_interval", "worst_case"]

#: Fire times of a schedule looked at for its shortest interval.
_SAMPLE = 500


def backoff(policy: RetryPolicy) -> float:
    """The waits between all of a policy's attempts: `delay` each when fixed, else
    delay, 2 x delay, 4 x delay ... each at most `max_delay` (tenacity's wait_exponential
    as engine/retry.py uses it)."""
    waits = max(0, policy.attempts - 1)
    if policy.backoff == "fixed":
        return waits * policy.delay
    total = 0.0
    for number in range(waits):
        total += min(max(policy.delay * 2.0**number, policy.delay), policy.max_delay)
    return total


@dataclass
class WorstCase:
    """The longest a runbook's steps may take, with how it adds up."""

    seconds: float = 0.0
    backoff: float = 0.0
    at_least: bool = False  # some part could not be counted (a for_each over an expression)
    #: (attempts, timeout) -> how many step runs may take that long
    terms: Counter[tuple[int, float]] = field(default_factory=Counter)

    def add(self, other: WorstCase, times: int = 1) -> None:
        self.seconds += other.seconds * times
        self.backoff += other.backoff * times
        self.at_least = self.at_least or other.at_least
        for term, count in other.terms.items():
            self.terms[term] += count * times

    @property
    def shown(self) -> str:
        """`96s (5 steps × 3 attempts × 5s + backoff 21s)`, `at least ...` when unsure."""
        parts = []
        for (attempts, timeout), count in sorted(self.terms.items(), key=lambda t: -t[1]):
            steps = f"{count} step{'s' if count != 1 else ''}"
            tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
            parts.append(f"{steps} × {tries} × {format_duration(timeout)}")
        if self.backoff:
            parts.append(f"backoff {format_duration(self.backoff)}")
        how = f" ({' + '.join(parts)})" if parts else ""
        return f"{'at least ' if self.at_least else ''}{format_duration(self.seconds)}{how}"


def worst_case(runbook: Runbook) -> WorstCase:
    """The longest the steps, on_failure and finally of `runbook` may take."""
    total = WorstCase()
    for step in (*runbook.steps, *runbook.on_failure, *runbook.finally_):
        total.add(_step(step))
    return total


def _step(step: Step) -> WorstCase:
    if step.for_each is not None:
        body = _body(step)
        items = step.for_each
        if isinstance(items, tuple | list):
            batches = math.ceil(len(items) / max(1, step.concurrency)) if items else 0
            out = WorstCase()
            out.add(body, batches)
            return out
        body.at_least = True  # how many items an expression gives is known at run time
        return body
    return _body(step)


def _body(step: Step) -> WorstCase:
    """One pass of a step (one item of a for_each)."""
    out = WorstCase()
    if step.transaction:
        inner = WorstCase()
        for nested in step.steps:
            single = _single(nested, attempts=1)
            inner.add(single)
        attempts = max(1, step.retry.attempts)
        out.add(inner, attempts)
        out.seconds += backoff(step.retry)
        out.backoff += backoff(step.retry)
        return out
    if step.steps:
        for nested in step.steps:
            out.add(_step(nested))
        return out
    return _single(step)


def _single(step: Step, attempts: int | None = None) -> WorstCase:
    tries = max(1, step.retry.attempts if attempts is None else attempts)
    waits = backoff(step.retry) if attempts is None else 0.0
    out = WorstCase(seconds=tries * step.timeout + waits, backoff=waits)
    if step.timeout <= 0:  # no timeout: it may take any time
        out.at_least = True
    else:
        out.terms[(tries, step.timeout)] += 1
    return out


def schedule_interval(schedule: str, start: datetime | None = None) -> float | None:
    """The shortest time between two successive fire times of a cron `schedule`, over a
    sample of them; None when it is not a valid schedule."""
    from croniter import croniter

    if start is None:
        return _interval(schedule)
    if len(schedule.split()) != 5 or not croniter.is_valid(schedule):
        return None
    return _sampled(schedule, start)


@lru_cache(maxsize=1024)
def _interval(schedule: str) -> float | None:
    """schedule_interval from 2026-01-01, once per distinct schedule: most runbooks of a
    project share a few. A schedule that fires at the same times every day (day of month,
    month and weekday all `*`) is worked out from its minutes and hours; others sampled."""
    from croniter import croniter

    if len(schedule.split()) != 5 or not croniter.is_valid(schedule):
        return None
    minutes, hours, days, months, weekdays = croniter.expand(schedule)[0]
    if days == months == weekdays == ["*"]:
        every_minute = range(60) if minutes == ["*"] else minutes
        every_hour = range(24) if hours == ["*"] else hours
        times = sorted({int(h) * 60 + int(m) for h in every_hour for m in every_minute})
        gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
        gaps.append(times[0] + 24 * 60 - times[-1])  # from the last of a day to the next's first
        return min(gaps) * 60.0
    return _sampled(schedule, datetime(2026, 1, 1))


def _sampled(schedule: str, start: datetime) -> float | None:
    from croniter import croniter

    times = croniter(schedule, start)
    previous = times.get_next(float)
    shortest = math.inf
    for _ in range(_SAMPLE):
        moment = times.get_next(float)
        shortest = min(shortest, moment - previous)
        previous = moment
    return shortest if math.isfinite(shortest) else None


def problems(runbook: Runbook, display: str) -> list[Problem]:
    """Warnings where the worst case exceeds the deadline or the schedule's interval."""
    found: list[Problem] = []
    deadline, schedule = runbook.deadline, runbook.schedule
    if not deadline and not isinstance(schedule, str):
        return found  # nothing the steps could take too long for
    worst = worst_case(runbook)
    if not worst.seconds:
        return found
    if deadline and worst.seconds > deadline:
        origin = runbook.keys.get("deadline")
        own = origin is not None
        if origin is None:
            origin = runbook.keys.get("check" if runbook.is_check else "runbook")
        where = "" if own else " (from defaults: deadline:)"
        found.append(
            Problem(
                f"the steps may take up to {worst.shown}, more than the deadline of "
                f"{format_duration(deadline)}{where}",
                origin.file if origin is not None else display,
                origin.line if origin is not None else None,
                None,
                "deadline",
                "lower the steps' timeouts or retry attempts, or raise the deadline",
                "warning",
            )
        )
    interval = schedule_interval(schedule) if isinstance(schedule, str) else None
    if interval is not None and worst.seconds > interval:
        origin = runbook.keys.get("schedule")
        found.append(
            Problem(
                f"the steps may take up to {worst.shown}, more than the "
                f"{format_duration(interval)} between two runs of {schedule!r}",
                origin.file if origin is not None else display,
                origin.line if origin is not None else None,
                None,
                "schedule",
                "lower the steps' timeouts or retry attempts, or run it less often",
                "warning",
            )
        )
    return found
