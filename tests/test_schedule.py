"""Fire times of cron schedules in a time zone, across real zoneinfo transitions.

Cron's rule on a change of offset: a wall-clock time the clock jumps over does not fire,
one it passes twice fires once (the first time). Every moment is handed in: no test
reads the real clock.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from runner.schedule.cron import CronSchedule, ScheduleError
from runner.schedule.policy import default_grace


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def fired(expression: str, zone: str, after: datetime, count: int) -> list[str]:
    """The next fire times as UTC instants, written as 'MM-DD HH:MMZ (local HH:MM+offset)'."""
    times = CronSchedule(expression, zone).next_times(after, count)
    return [f"{t.astimezone(UTC):%m-%d %H:%M}Z ({t:%H:%M%z})" for t in times]


TRANSITIONS = [
    (
        # Paris springs forward on 2026-03-29 at 02:00 CET to 03:00 CEST: 02:30 is skipped
        "paris-spring-daily-in-the-gap",
        "30 2 * * *",
        "Europe/Paris",
        utc(2026, 3, 27, 12),
        [
            "03-28 01:30Z (02:30+0100)",
            "03-30 00:30Z (02:30+0200)",
            "03-31 00:30Z (02:30+0200)",
        ],
    ),
    (
        "paris-spring-half-hourly",
        "*/30 * * * *",
        "Europe/Paris",
        utc(2026, 3, 29, 0, 15),
        [
            "03-29 00:30Z (01:30+0100)",
            "03-29 01:00Z (03:00+0200)",
            "03-29 01:30Z (03:30+0200)",
        ],
    ),
    (
        # Paris falls back on 2026-10-25 at 03:00 CEST to 02:00 CET: 02:xx comes twice,
        # and fires once, the first time (CEST)
        "paris-fall-repeated-hour-runs-once",
        "*/30 * * * *",
        "Europe/Paris",
        utc(2026, 10, 24, 23, 45),
        [
            "10-25 00:00Z (02:00+0200)",
            "10-25 00:30Z (02:30+0200)",
            "10-25 02:00Z (03:00+0100)",
            "10-25 02:30Z (03:30+0100)",
        ],
    ),
    (
        "paris-fall-daily-in-the-repeated-hour",
        "30 2 * * *",
        "Europe/Paris",
        utc(2026, 10, 24, 12),
        [
            "10-25 00:30Z (02:30+0200)",
            "10-26 01:30Z (02:30+0100)",
        ],
    ),
    (
        # asked from inside the second pass of the repeated hour: its slots have passed
        "paris-fall-asked-during-the-second-pass",
        "15 * * * *",
        "Europe/Paris",
        utc(2026, 10, 25, 1, 5),
        [
            "10-25 02:15Z (03:15+0100)",
        ],
    ),
    (
        # New York springs forward on 2026-03-08 at 02:00 EST to 03:00 EDT
        "new-york-spring-daily-in-the-gap",
        "30 2 * * *",
        "America/New_York",
        utc(2026, 3, 7, 0),
        [
            "03-07 07:30Z (02:30-0500)",
            "03-09 06:30Z (02:30-0400)",
        ],
    ),
    (
        "new-york-spring-hourly",
        "0 * * * *",
        "America/New_York",
        utc(2026, 3, 8, 5, 30),
        [
            "03-08 06:00Z (01:00-0500)",
            "03-08 07:00Z (03:00-0400)",
            "03-08 08:00Z (04:00-0400)",
        ],
    ),
    (
        # New York falls back on 2026-11-01 at 02:00 EDT to 01:00 EST: 01:00 runs once
        "new-york-fall-hourly",
        "0 * * * *",
        "America/New_York",
        utc(2026, 11, 1, 4, 30),
        [
            "11-01 05:00Z (01:00-0400)",
            "11-01 07:00Z (02:00-0500)",
            "11-01 08:00Z (03:00-0500)",
        ],
    ),
    (
        "utc-has-no-transitions",
        "30 2 * * *",
        "UTC",
        utc(2026, 3, 28, 12),
        [
            "03-29 02:30Z (02:30+0000)",
            "03-30 02:30Z (02:30+0000)",
        ],
    ),
    (
        # cron's rule: with both restricted, day of month OR day of week
        "day-of-month-or-day-of-week",
        "0 9 13 * 5",
        "UTC",
        utc(2026, 2, 1),
        [
            "02-06 09:00Z (09:00+0000)",
            "02-13 09:00Z (09:00+0000)",
            "02-20 09:00Z (09:00+0000)",
        ],
    ),
]


@pytest.mark.parametrize(
    "name, expression, zone, after, expected", TRANSITIONS, ids=[t[0] for t in TRANSITIONS]
)
def test_fire_times_across_offset_changes(name, expression, zone, after, expected):
    assert fired(expression, zone, after, len(expected)) == expected


def test_a_schedule_without_a_zone_is_utc():
    schedule = CronSchedule("0 8 * * *")
    assert schedule.timezone == "UTC"
    assert schedule.next_times(utc(2026, 7, 1), 1) == [utc(2026, 7, 1, 8)]


def test_fire_times_are_strictly_after_the_moment():
    schedule = CronSchedule("0 * * * *", "Europe/Paris")
    assert schedule.next_times(utc(2026, 7, 1, 8), 1) == [utc(2026, 7, 1, 9)]


def test_between_lists_the_slots_of_a_span():
    schedule = CronSchedule("*/15 * * * *", "UTC")
    slots = list(schedule.between(utc(2026, 1, 1, 10), utc(2026, 1, 1, 11)))
    assert [f"{s:%H:%M}" for s in slots] == ["10:15", "10:30", "10:45", "11:00"]


def test_a_naive_moment_is_refused():
    with pytest.raises(ValueError, match="aware datetime"):
        CronSchedule("0 * * * *").next_times(datetime(2026, 1, 1), 1)


def test_a_schedule_that_never_fires():
    schedule = CronSchedule("0 0 31 2 *")
    assert not schedule.fires()
    assert schedule.next_times(utc(2026, 1, 1), 3) == []
    assert CronSchedule("0 0 29 2 *").fires()  # leap years


@pytest.mark.parametrize(
    "expression, zone, message",
    [
        ("61 * * * *", None, "'61 * * * *' is not a valid cron schedule"),
        ("0 * * *", None, "'0 * * *' is not a valid cron schedule"),
        ("0 * * * *", "Mars/Olympus", "unknown time zone 'Mars/Olympus'"),
    ],
)
def test_bad_schedules_and_zones_say_what_is_wrong(expression, zone, message):
    with pytest.raises(ScheduleError, match=re.escape(message)):
        CronSchedule(expression, zone)


@pytest.mark.parametrize(
    "interval, jitter, grace",
    [(60, 0, 300), (3600, 0, 360), (86400, 0, 8640), (3600, 120, 480)],
)
def test_default_grace_is_a_tenth_of_the_interval_at_least_5_minutes(interval, jitter, grace):
    assert default_grace(interval, jitter) == grace


@pytest.mark.parametrize(
    "expression, zone, expected",
    [
        ("30 2 * * *", "Europe/Paris", ["2026-03-29 02:00-03:00"]),
        ("0 * * * *", "Europe/Paris", ["2026-03-29 02:00-03:00"]),
        ("0 3 * * *", "Europe/Paris", []),  # 03:00 exists: the clock jumps to it
        ("30 2 * * 1", "Europe/Paris", []),  # the jump is on a Sunday
        ("30 2 * * *", "America/New_York", ["2026-03-08 02:00-03:00"]),
        ("15 2 * * *", "Australia/Lord_Howe", ["2026-10-04 02:00-02:30"]),  # half an hour
        ("45 2 * * *", "Australia/Lord_Howe", []),
        ("30 2 * * *", "UTC", []),
    ],
)
def test_skipped_hours(expression, zone, expected):
    spans = CronSchedule(expression, zone).skipped_hours(utc(2026, 1, 1))
    assert [f"{a:%Y-%m-%d %H:%M}-{b:%H:%M}" for a, b in spans] == expected
