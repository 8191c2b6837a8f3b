"""The keys of a scheduled runbook beside `schedule:`: jitter, catchup, catchup_window
and grace, built into the model (`read_timing`) and checked for meaning (`problems`).

`timezone:` is built with the rest of the runbook (its own, else runner.yaml's, else
UTC) and its zone checked where `schedule:` is (meaning.py). What the values mean when
the runbook runs is in docs/scheduling.md; the defaults in runner/schedule/policy.py.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from runner.base.durations import PATTERN, format_duration, parse_duration
from runner.base.errors import Problem
from runner.language.model import Origin, Runbook
from runner.language.nodes import Node, freeze

if TYPE_CHECKING:
    from runner.schedule.cron import CronSchedule

__all__ = ["TIMING_KEYS", "effective_grace", "problems", "read_timing"]

#: The keys that mean something only beside `schedule:`.
TIMING_KEYS = ("timezone", "jitter", "catchup", "catchup_window", "grace")
_DURATIONS = ("jitter", "catchup_window", "grace")


def read_timing(root: Node, found: list[Problem]) -> dict[str, Any]:
    """The model's jitter, catchup, catchup_window and grace, as written or their
    defaults. A value the schema refuses is left to the schema's message (and taken as
    absent); a well-formed duration over the longest one is said here, as for deadline."""
    doc = root.value
    out: dict[str, Any] = {}
    if "catchup" in doc:
        out["catchup"] = freeze(doc["catchup"])
    for key in _DURATIONS:
        if key not in doc:
            continue
        raw = doc[key]
        try:
            out[key] = parse_duration(raw)
        except ValueError as error:
            if isinstance(raw, str) and re.match(PATTERN, raw):
                found.append(root.origin_of(key).problem(str(error)))
    return out


def effective_grace(runbook: Runbook) -> float | None:
    """How late a due run of `runbook` may be before it is LATE: its `grace:`, else a
    tenth of its schedule's shortest interval, at least 5 minutes, plus its jitter.
    None for a runbook without a valid schedule."""
    from runner.language.worstcase import schedule_interval
    from runner.schedule.policy import default_grace

    if runbook.grace is not None:
        return runbook.grace
    if not isinstance(runbook.schedule, str):
        return None
    interval = schedule_interval(runbook.schedule)
    return default_grace(interval, runbook.jitter) if interval is not None else None


def problems(runbook: Runbook) -> list[Problem]:
    """What the schedule's keys say that cannot hold together: a schedule that never
    fires, an input a scheduled run cannot be given, jitter as long as the interval, a
    grace that jitter alone overruns, a catch-up window that catches up nothing; warnings
    for keys that change nothing."""
    found: list[Problem] = []
    keys = runbook.keys
    schedule = runbook.schedule
    if not isinstance(schedule, str):
        if "schedule" not in keys:
            for key in TIMING_KEYS:
                if key in keys:
                    found.append(
                        keys[key].problem(
                            f"{key}: has no effect: the runbook has no schedule:",
                            "add a schedule: or remove it",
                            at="key",
                            severity="warning",
                        )
                    )
        return found
    from runner.language.worstcase import schedule_interval

    timezone = runbook.timezone
    if timezone is not None and not isinstance(timezone, str):
        return found  # the schema says what is wrong with it
    cron, fires = _read_cron(schedule, timezone)
    if cron is None:
        return found  # the checks of meaning say why (meaning.py)
    if not fires:
        found.append(
            keys["schedule"].problem(
                f"{schedule!r} never fires: no date matches it",
                "check the day of month against the month (there is no 31 February)",
            )
        )
        return found
    needed = [spec.name for spec in runbook.inputs if spec.required]
    if needed:
        origin = keys.get("inputs") or keys["schedule"]
        names = ", ".join(repr(name) for name in needed)
        found.append(
            origin.problem(
                f"{'input' if len(needed) == 1 else 'inputs'} {names} "
                f"{'has' if len(needed) == 1 else 'have'} no default, and a scheduled run "
                "is given no --param: every scheduled run would be refused",
                "give each input a default: (operators still override it with --param), "
                "or remove schedule:",
                at="key",
            )
        )
    interval = schedule_interval(schedule)
    found += _skipped(cron, interval, keys.get("timezone") or keys["schedule"])
    catchup, window = runbook.catchup, runbook.catchup_window
    if interval is not None and "jitter" in keys and runbook.jitter >= interval:
        found.append(
            keys["jitter"].problem(
                f"jitter of {format_duration(runbook.jitter)} is not shorter than the "
                f"{format_duration(interval)} between two runs of {schedule!r}",
                "a run could start after the next one is due: lower the jitter",
            )
        )
    grace = runbook.grace
    if "grace" in keys and grace is not None and runbook.jitter and grace <= runbook.jitter:
        found.append(
            keys["grace"].problem(
                f"grace of {format_duration(grace)} is not longer than the "
                f"jitter of {format_duration(runbook.jitter)}",
                "a run that jitter delays would be reported LATE: raise the grace",
            )
        )
    if "catchup_window" in keys and catchup in ("latest", "all") and window == 0:
        found.append(
            keys["catchup_window"].problem(
                f"a catchup_window of 0 catches up nothing, yet catchup is {catchup!r}",
                "write catchup: none, or a window such as 24h",
            )
        )
    elif "catchup_window" in keys and catchup == "none":
        found.append(
            keys["catchup_window"].problem(
                "catchup_window: has no effect with catchup: none",
                "remove it, or write catchup: latest or all",
                at="key",
                severity="warning",
            )
        )
    elif catchup == "all" and interval is not None and 0 < window < interval:
        origin = keys.get("catchup_window") or keys["catchup"]
        found.append(
            origin.problem(
                f"catchup: all with a catchup_window of {format_duration(window)}, shorter "
                f"than the {format_duration(interval)} between two runs of {schedule!r}, "
                "catches up at most one run",
                "widen catchup_window, or write catchup: latest",
                severity="warning",
            )
        )
    return found


@lru_cache(maxsize=1024)
def _read_cron(schedule: str, timezone: str | None) -> tuple[CronSchedule | None, bool]:
    """The schedule in its zone (None when either cannot be read) and whether it ever
    fires: once per schedule and zone, as many runbooks of a project share a few."""
    from runner.schedule.cron import CronSchedule, ScheduleError

    try:
        cron = CronSchedule(schedule, timezone)
    except ScheduleError:
        return None, False
    return cron, cron.fires()


def _skipped(cron: CronSchedule, interval: float | None, origin: Origin) -> list[Problem]:
    """A warning when the zone's clock jumps over a run of a schedule slower than the
    jump (a daily 02:30 in Europe/Paris): that day it does not run at all. A schedule as
    fast as the jump (hourly) keeps its rhythm in real time, and is not warned about."""
    from datetime import UTC, datetime

    if cron.timezone == "UTC" or interval is None:
        return []
    for jumped_from, jumped_to in cron.skipped_hours(datetime.now(UTC)):
        if interval > (jumped_to - jumped_from).total_seconds():
            return [
                origin.problem(
                    f"{cron.expression!r} does not run on the day {cron.timezone}'s clock "
                    f"jumps from {jumped_from:%H:%M} to {jumped_to:%H:%M} (next on "
                    f"{jumped_from:%Y-%m-%d}): that time does not exist then",
                    "move it out of that hour, or write the schedule in UTC",
                    severity="warning",
                )
            ]
    return []
