"""The one timestamp format of every output (json, history, text): RFC 3339 in UTC with
`Z` and milliseconds, `2026-11-30T22:15:03.123Z`.

The state store keeps microseconds (`2026-11-30T22:15:03.123456Z`, base/clock.py), so
that its text sorts as time does; reports convert what they read with `timestamp_text`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

__all__ = ["timestamp", "timestamp_text"]


def timestamp(moment: datetime | None) -> str | None:
    """`moment` as `2026-11-30T22:15:03.123Z`; a naive datetime is taken to be UTC
    (the engine and the store only hold UTC), None stays None."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def timestamp_text(value: Any) -> Any:
    """A timestamp as the store or a database gave it (a datetime, or ISO 8601 text with
    `Z`, an offset or none) in the output format; None, and text that is no timestamp,
    are returned as they are."""
    if isinstance(value, datetime):
        return timestamp(value)
    if not isinstance(value, str) or not value:
        return value
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    return timestamp(moment)
