"""The fire times of a 5-field cron schedule in an IANA time zone, as cron keeps them.

A schedule is read on the zone's wall clock: "30 2 * * *" in Europe/Paris fires at
02:30 Paris time, whatever its UTC offset that day. Across a change of offset it does
what cron does:

- a wall-clock time the clock jumps over (02:30 on the spring-forward night) does not
  exist, and does not fire;
- a wall-clock time the clock passes twice (01:30 on the fall-back night) fires once,
  the first time.

The cron expression is read by croniter, on naive wall-clock times; this module maps
each to an instant with zoneinfo. Every moment is handed in: the callers own the clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["CronSchedule", "ScheduleError", "zone"]

#: Where fires() looks from: a fixed day, so the answer is the same on every run.
_SAMPLE_START = datetime(2026, 1, 1)


class ScheduleError(ValueError):
    """A schedule or a time zone that cannot be read; the message says which and why."""


def zone(name: str | None) -> tzinfo:
    """The IANA time zone `name` (None: UTC); ScheduleError when there is none such."""
    if name is None or name == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ScheduleError(
            f"unknown time zone {name!r}: use an IANA name such as Europe/Paris or UTC"
        ) from None


class CronSchedule:
    """A cron expression (minute hour day-of-month month day-of-week) in a time zone."""

    def __init__(self, expression: str, timezone: str | None = None) -> None:
        from croniter import croniter

        if len(expression.split()) != 5 or not croniter.is_valid(expression):
            raise ScheduleError(
                f"{expression!r} is not a valid cron schedule: write five fields, minute "
                'hour day-of-month month day-of-week, e.g. "0 * * * *"'
            )
        self.expression = expression
        self.timezone = timezone or "UTC"
        self.zone = zone(timezone)

    def __repr__(self) -> str:
        return f"CronSchedule({self.expression!r}, {self.timezone!r})"

    def after(self, moment: datetime) -> Iterator[datetime]:
        """Every fire time strictly after `moment` (an aware datetime), in order, as
        aware datetimes in the schedule's zone. Ends only for a schedule that never
        fires again (croniter looks some fifty years ahead)."""
        from croniter import CroniterBadDateError, croniter

        if moment.tzinfo is None:
            raise ValueError("after() needs an aware datetime: which zone is it in?")
        # On the wall clock, from the wall-clock time of `moment`; a fire time on the
        # second pass of a repeated hour comes out before `moment` and is passed over.
        wall = moment.astimezone(self.zone).replace(tzinfo=None)
        times = croniter(self.expression, wall)
        while True:
            try:
                local: datetime = times.get_next(datetime)
            except CroniterBadDateError:
                return
            fire = self._instant(local)
            if fire is not None and fire > moment:
                yield fire

    def last_at_or_before(self, moment: datetime) -> datetime | None:
        """The newest fire time at or before `moment` (an aware datetime), in the
        schedule's zone: the slot that last came due. None when there is none (croniter
        looks some fifty years back)."""
        from croniter import CroniterBadDateError, croniter

        if moment.tzinfo is None:
            raise ValueError("last_at_or_before() needs an aware datetime: which zone is it in?")
        # From a second after `moment` on the wall clock, backwards: a fire time at
        # `moment` itself counts; one in a spring-forward gap, or on the wall clock after
        # `moment` in a repeated hour, is passed over.
        wall = moment.astimezone(self.zone).replace(tzinfo=None) + timedelta(seconds=1)
        times = croniter(self.expression, wall)
        while True:
            try:
                local: datetime = times.get_prev(datetime)
            except CroniterBadDateError:
                return None
            fire = self._instant(local)
            if fire is not None and fire <= moment:
                return fire

    def next_times(self, moment: datetime, count: int) -> list[datetime]:
        """The next `count` fire times after `moment` (fewer if it stops firing)."""
        out: list[datetime] = []
        if count <= 0:
            return out
        for fire in self.after(moment):
            out.append(fire)
            if len(out) == count:
                break
        return out

    def between(self, start: datetime, end: datetime) -> Iterator[datetime]:
        """The fire times after `start` and at or before `end`: the slots of a span."""
        for fire in self.after(start):
            if fire > end:
                return
            yield fire

    def fires(self) -> bool:
        """Whether it ever fires ("0 0 31 2 *", the 31st of February, never does)."""
        return bool(self.next_times(_SAMPLE_START.replace(tzinfo=UTC), 1))

    def skipped_hours(self, start: datetime, days: int = 366) -> list[tuple[datetime, datetime]]:
        """The wall-clock spans the zone's clock jumps over in the `days` after `start`
        (spring forward) in which this schedule has a fire time, as naive (from, to)
        wall-clock times: on those days that run does not happen."""
        from croniter import croniter

        found = []
        day = start.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        for before, after in _forward_jumps(self.zone, day, days):
            gap_from, gap_to = before.replace(tzinfo=None), after.replace(tzinfo=None)
            first: datetime = croniter(self.expression, gap_from - timedelta(seconds=1)).get_next(
                datetime
            )
            if first < gap_to:
                found.append((gap_from, gap_to))
        return found

    def _instant(self, local: datetime) -> datetime | None:
        """The instant of a wall-clock time in the zone: its first one when the clock
        passes it twice (fold=0), None when the clock jumps over it."""
        aware = local.replace(tzinfo=self.zone, fold=0)
        if aware.astimezone(UTC).astimezone(self.zone).replace(tzinfo=None) != local:
            return None  # in the gap of a spring-forward: this time does not exist
        return aware


@lru_cache(maxsize=64)
def _forward_jumps(
    zone: tzinfo, start: datetime, days: int
) -> tuple[tuple[datetime, datetime], ...]:
    """Each change of `zone`'s offset that moves its clock forward in the `days` after
    `start`, as (the wall-clock time it jumps from, the one it jumps to), both aware:
    found a day at a time, then to the second by halving. Once per zone and day: the
    runbooks of a project share a few zones."""

    def offset(second: int) -> timedelta | None:
        return datetime.fromtimestamp(second, UTC).astimezone(zone).utcoffset()

    out = []
    day = int(start.timestamp())
    for _ in range(days):
        low, high = day, day + 86400
        if offset(low) != offset(high):
            while high - low > 1:  # offset(low) is the old one, offset(high) the new
                middle = (low + high) // 2
                if offset(middle) == offset(low):
                    low = middle
                else:
                    high = middle
            old, new = offset(low) or timedelta(), offset(high) or timedelta()
            if new > old:
                change = datetime.fromtimestamp(high, UTC)
                out.append((change.astimezone(timezone(old)), change.astimezone(zone)))
        day += 86400
    return tuple(out)
