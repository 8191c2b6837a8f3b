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


def number_text(value: float) -> str:
    """A number as a result's text says it: `2.5`, `37`, `0.33` (two decimals at most)."""
    return f"{value:.2f}".rstrip("0").rstrip(".") if not value.is_integer() else str(int(value))


def value_text(value: Any) -> str:
    """A value of an evaluation as results read it: a number as `number_text` says it,
    true/false and null as JSON writes them (not Python's True, False, None)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return number_text(value)
    return str(value)
