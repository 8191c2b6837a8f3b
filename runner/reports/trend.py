"""`runbook history --value STEP.NAME`: a value of a step in each recorded run, beside the
run, so a health check's numbers read as a trend (orders per hour, run by run).

A name is `step.value`: `value` is one of the step's values (`rowcount`, `elapsed_ms`)
or, as thresholds name them, a column of its first row (`orders_per_hour`). A run
without that step or value shows nothing there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from runner.base.errors import InputError


def value_names(texts: Sequence[str]) -> list[tuple[str, str]]:
    """`step.name` texts as (step, name) pairs; an InputError for one that is not."""
    names = []
    for text in texts:
        step, dot, name = text.partition(".")
        if not dot or not step or not name:
            raise InputError(
                f"--value {text!r}: write STEP.NAME, a step id and one of its values or "
                "columns, such as --value rates.orders_per_hour"
            )
        names.append((step, name))
    return names


def add_values(
    rows: list[dict[str, Any]],
    names: Sequence[tuple[str, str]],
    recorded: Mapping[str, Mapping[str, Mapping[str, Any]]],
) -> None:
    """Give each history row `values`: {"step.name": value or None}, in `names` order."""
    for row in rows:
        steps = recorded.get(row["run_id"], {})
        row["values"] = {f"{step}.{name}": _value(steps.get(step), name) for step, name in names}


def _value(values: Mapping[str, Any] | None, name: str) -> Any:
    if not values:
        return None
    if name in values:
        return values[name]
    first = values.get("row")
    return first.get(name) if isinstance(first, Mapping) else None
