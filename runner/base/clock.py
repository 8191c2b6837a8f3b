"""Time as the state store and messages write it."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_text(moment: datetime | None) -> str | None:
    """ISO-8601 UTC text that sorts as time does; a naive datetime is local time."""
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def naive_utc(now: datetime | None) -> datetime:
    """`now` (default: the current time) as a naive UTC datetime to the second; a naive
    `now` is taken to be UTC already."""
    if now is None:
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        now = now.replace(tzinfo=UTC)  # a naive time is taken to be UTC already
    return now.astimezone(UTC).replace(tzinfo=None, microsecond=0)
