"""Which items of a `for_each` a report lists, and the line that says what it left out.

A loop of up to `LISTED` items lists every item it kept, as it always did. A larger one
lists its bad items (up to `LISTED` in text; all of them in json), then one line:
`and 9,812 more OK`. `--all-items` lists every item that was kept (`record: all` on the
step keeps them all in the store; the engine keeps them all in a run with --all-items).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from runner.base.status import Status
from runner.language.results import StepResult

__all__ = ["LISTED", "listed", "more_line", "ok_value_lines", "summarise_dict", "walk"]

#: Items listed in full before the report summarises the rest.
LISTED = 20

_ORDER = (Status.CRITICAL, Status.UNKNOWN, Status.WARNING, Status.OK, Status.SKIPPED)


def listed(step: StepResult, *, all_items: bool, limit: int | None = LISTED) -> list[StepResult]:
    """The children of `step` a report lists (all of them unless `step` is a for_each)."""
    summary = step.items_summary
    if summary is None or all_items or (not summary.folded and len(step.children) <= LISTED):
        return step.children
    bad = [child for child in step.children if child.bad]
    return bad if limit is None else bad[:limit]


def more_line(step: StepResult, shown: list[StepResult]) -> str | None:
    """`and 9,812 more OK` (`and 3 more CRITICAL, 9,812 more OK`), or None when every
    item is listed."""
    if step.items_summary is None:
        return None
    left = dict(step.items_summary.counts)
    for child in shown:
        left[child.status.value] = left.get(child.status.value, 0) - 1
    parts = [f"{left[s.value]:,} more {s.value}" for s in _ORDER if left.get(s.value, 0) > 0]
    return "and " + ", ".join(parts) if parts else None


def walk(
    steps: list[StepResult], *, all_items: bool, depth: int = 0
) -> Iterator[tuple[int, StepResult | str]]:
    """Every listed step with its depth, parents first; after a for_each's listed items,
    the line saying what was left out (a str)."""
    for step in steps:
        yield depth, step
        shown = listed(step, all_items=all_items)
        yield from walk(shown, all_items=all_items, depth=depth + 1)
        more = more_line(step, shown)
        if more is not None:
            yield depth + 1, more
            yield from ((depth + 1, line) for line in ok_value_lines(step))


def ok_value_lines(step: StepResult) -> list[str]:
    """`OK items: probe.v count 9,812, min 0, max 90, avg 45.5`, one per threshold value."""
    if step.items_summary is None:
        return []
    return [
        f"OK items: {name} count {int(agg['count']):,}, min {_number(agg['min'])}, "
        f"max {_number(agg['max'])}, avg {_number(agg['avg'])}"
        for name, agg in step.items_summary.ok_values.items()
    ]


def _number(value: float | str) -> str:
    if isinstance(value, str):  # masked: it equals a secret number
        return value
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.6g}"
    return f"{int(value)}"


def summarise_dict(document: Mapping[str, Any], *, all_items: bool) -> dict[str, Any]:
    """A run or step as JSON (as_dict(), or the store's form) with each for_each's items
    listed as `listed` says (bad items all listed) and its `items_summary` telling how
    many are `shown` and `omitted`."""
    data = dict(document)
    children = data.get("children")
    summary = data.get("items_summary")
    if isinstance(children, list) and isinstance(summary, Mapping):
        counts = summary.get("counts") or {}
        total = sum(counts.values())
        if not all_items and (summary.get("folded") or len(children) > LISTED):
            children = [c for c in children if isinstance(c, Mapping) and _bad(c)]
        data["items_summary"] = {
            **summary,
            "shown": len(children),
            "omitted": total - len(children),
        }
    for key in ("steps", "children"):
        found = children if key == "children" else data.get(key)
        if isinstance(found, list):
            data[key] = [
                summarise_dict(item, all_items=all_items) if isinstance(item, Mapping) else item
                for item in found
            ]
    return data


def _bad(step: Mapping[str, Any]) -> bool:
    try:
        return Status(step.get("status")).is_bad
    except ValueError:
        return True
