"""A cron expression as the sets of values of its five fields, for the tools that write
schedules in another scheduler's words (runbook export): systemd's calendar events and
Windows' triggers list values where cron has ranges and steps.

croniter reads the expression (ranges, steps, names); what it expands into plain values
is taken, and its extensions that no other scheduler shares (the last day of a month
`L`, the nearest weekday `W`, the nth weekday `5#2`) are said to be so.
"""

from __future__ import annotations

import re
from typing import NamedTuple

__all__ = ["CronFields", "cron_fields"]

# croniter's extensions past standard cron: L or W in the day of month, # or L in the
# day of week (month and day names hold neither `#` nor a lone `l`/`w` as a token).
_EXTENSION = re.compile(r"(^|[,\-/])\d*[lw]($|[,\-/])|#", re.IGNORECASE)


class CronFields(NamedTuple):
    """The values each field allows; None for `*` (any value). Weekdays are 0-6, with
    0 for Sunday, as in cron."""

    minutes: tuple[int, ...] | None
    hours: tuple[int, ...] | None
    days: tuple[int, ...] | None
    months: tuple[int, ...] | None
    weekdays: tuple[int, ...] | None

    @property
    def days_or_weekdays(self) -> bool:
        """Both days of month and days of week are restricted: cron fires on a day that
        matches either one (not both)."""
        return self.days is not None and self.weekdays is not None


def cron_fields(expression: str) -> CronFields | str:
    """The fields of a valid 5-field `expression`, or why they cannot be listed (a
    croniter extension that another scheduler does not have)."""
    from croniter import croniter

    parts = expression.split()
    for name, part in (("day of month", parts[2]), ("day of week", parts[4])):
        if _EXTENSION.search(part):
            return (
                f"the {name} {part!r} uses a croniter extension (L, W or #) that other "
                "schedulers do not have"
            )
    minutes, hours, days, months, weekdays = croniter.expand(expression)[0]
    return CronFields(
        _values(minutes),
        _values(hours),
        _values(days),
        _values(months),
        _values(weekdays, modulo=7),  # 7 is Sunday too
    )


def _values(field: list[int | str], modulo: int = 0) -> tuple[int, ...] | None:
    if field == ["*"]:
        return None
    numbers = (int(value) for value in field)
    return tuple(sorted({number % modulo if modulo else number for number in numbers}))
