"""`runbook next`: the next run times of each scheduled runbook, in its zone and in UTC.

Each row is a mapping: runbook, path, schedule, timezone, times (aware datetimes in the
runbook's zone) and error (why the runbook could not be read, or None).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from runner.base.timestamps import timestamp
from runner.reports.formats import PAGE_FORMATS

__all__ = ["render_next"]

FORMAT_VERSION = 1


def render_next(rows: Sequence[Mapping[str, Any]], after: datetime, count: int, fmt: str) -> str:
    if fmt not in PAGE_FORMATS:
        raise ValueError(f"unknown format {fmt!r}: use one of {', '.join(PAGE_FORMATS)}")
    if fmt == "json":
        return _json(rows, after, count)
    return _text(rows, after, count)


def _json(rows: Sequence[Mapping[str, Any]], after: datetime, count: int) -> str:
    document = {
        "format_version": FORMAT_VERSION,
        "after": timestamp(after),
        "count": count,
        "runbooks": [
            {
                "runbook": row["runbook"],
                "path": row["path"],
                "schedule": row["schedule"],
                "timezone": row["timezone"],
                "times": [
                    {"utc": timestamp(moment), "local": moment.isoformat()}
                    for moment in row["times"]
                ],
                "error": row["error"],
            }
            for row in rows
        ],
    }
    return json.dumps(document, indent=2, ensure_ascii=False)


def _text(rows: Sequence[Mapping[str, Any]], after: datetime, count: int) -> str:
    if not rows:
        return "No scheduled runbooks."
    lines = [f"The next {count} run times after {after.astimezone(UTC):%Y-%m-%d %H:%M}Z:"]
    for row in rows:
        lines.append("")
        if row["error"]:
            lines.append(f"{row['runbook']}   {row['error']}")
            continue
        lines.append(f"{row['runbook']}   {row['schedule']}   {row['timezone']}")
        for moment in row["times"]:
            lines.append("  " + _moment(moment))
        if len(row["times"]) < count:
            lines.append("  (no later run time: the schedule stops firing)")
    return "\n".join(lines)


def _moment(moment: datetime) -> str:
    """`2026-03-29 03:00 CEST (+02:00)   2026-03-29 01:00Z`; a UTC time once."""
    in_utc = moment.astimezone(UTC)
    if moment.utcoffset() == in_utc.utcoffset() and moment.tzname() == "UTC":
        return f"{in_utc:%Y-%m-%d %H:%M}Z"
    offset = moment.strftime("%z")
    offset = f"{offset[:3]}:{offset[3:]}"
    return f"{moment:%Y-%m-%d %H:%M %Z} ({offset})   {in_utc:%Y-%m-%d %H:%M}Z"
