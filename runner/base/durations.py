"""Durations as people write them in YAML: 30s, 5m, 1h30m, 2d, 250ms, or a number of seconds."""

from __future__ import annotations

import math
import re

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
PATTERN = r"^\s*(\d+(\.\d+)?(ms|s|m|h|d|w)\s*)+$"
#: The longest duration taken (36500d, about 100 years): every timer and sleep of the
#: platform can wait that long, and no runbook needs longer.
MAX_SECONDS = 36500 * 86400


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:20]}...{text[-10:]} ({len(text):,} characters)"


def too_long(value: object) -> str:
    return f"{_shown(value)} is too long: a duration must be at most 36500d"


def _bounded(seconds: float, value: object) -> float:
    if not math.isfinite(seconds) or seconds > MAX_SECONDS:
        raise ValueError(too_long(value))
    return seconds


def parse_duration(value: object) -> float:
    """Seconds in `value`; raises ValueError with an instruction when it is not a duration."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"{_shown(value)} is negative: a duration must be 0 or more")
        if isinstance(value, int) and value > MAX_SECONDS:  # float() of a huge int overflows
            return _bounded(math.inf, value)
        return _bounded(float(value), value)
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a duration")
    text = value.replace(" ", "").lower()
    pos, total = 0, 0.0
    while pos < len(text):
        match = _PART.match(text, pos)
        if not match:
            raise ValueError(
                f"{value!r} is not a duration: "
                "write a number with a unit, such as 30s, 5m, 1h30m or 2d"
            )
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if not text:
        raise ValueError("an empty string is not a duration")
    return _bounded(total, value)


def format_duration(seconds: float) -> str:
    """A short readable form: 850ms, 12.3s, 5m, 1h30m."""
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s".replace(".0s", "s")
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    out = ""
    for amount, unit in ((days, "d"), (hours, "h"), (minutes, "m"), (secs, "s")):
        if amount:
            out += f"{amount}{unit}"
    return out or "0s"
