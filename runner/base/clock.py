"""Time as the state store and messages write it."""

from __future__ import annotations

from datetime import UTC, datetime


def utc_text(moment: datetime | None) -> str | None:
    """ISO-8601 UTC text that sorts as time does; a naive datetime is local time."""
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
