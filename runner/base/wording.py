"""Small phrases shared by step summaries and reports: `3 rows`, a value cut to fit a cell."""

from __future__ import annotations

from typing import Any


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def short(value: Any, limit: int = 60) -> str:
    """A value as people read it in one cell: NULL for None, long text cut with an ellipsis."""
    if value is None:
        text = "NULL"
    elif isinstance(value, float):
        text = f"{value:g}" if abs(value) < 1e15 else str(value)
    else:
        text = str(value)
    text = " ".join(text.split())  # a newline inside a cell breaks every layout
    return text if len(text) <= limit else text[: limit - 1] + "…"
