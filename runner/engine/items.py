"""What a `for_each` keeps of its items as they finish.

A 10,000-item loop must not hold 10,000 full results (values, rendered SQL, attempts)
until the end of the run: a bad item is kept in full, for the report and the store; an
OK item is folded into counts and, per threshold value, count/min/max/avg, and then
dropped. A loop of up to `KEEP_SMALL` items keeps them all. `record: all` on the step
(or `--all-items`, which asks to see them) keeps every item.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

from runner.base.decimals import is_decimal
from runner.language.results import ItemsSummary, StepResult

__all__ = ["ItemCollector", "item_label"]


#: A loop of up to this many items keeps them all, as a person reads a short list whole.
KEEP_SMALL = 20


class ItemCollector:
    """Takes each finished item of one `for_each`, in order, and fills its result."""

    def __init__(self, *, keep_all: bool) -> None:
        self.keep_all = keep_all
        self.kept: list[StepResult] = []
        self.summary = ItemsSummary()
        self.bad = 0
        self.seen = 0
        self._sums: dict[str, float] = {}

    def add(self, item: StepResult) -> None:
        bad = item.status.is_bad
        self.seen += 1
        counts = self.summary.counts
        counts[item.status.value] = counts.get(item.status.value, 0) + 1
        if bad:
            self.bad += 1
        else:
            for name, value in _threshold_values(item):
                self._fold(name, value)
        if self.keep_all or self.seen <= KEEP_SMALL:
            self.kept.append(item)
            return
        self._long(1)
        if bad:
            self.kept.append(item)
        else:
            self.summary.folded += 1

    def folds_ok(self) -> bool:
        """Whether the next item, if it ends OK without threshold values, is folded
        (then `add_ok` may count it without a result being built). Once true, true for
        the rest of the loop."""
        return not self.keep_all and self.seen >= KEEP_SMALL

    def add_ok(self, count: int) -> None:
        """`count` items that ended OK without threshold values, in a row, each of which
        `folds_ok` said is folded (the lean path counts them as they come and adds them
        before the next item it keeps, and at the end)."""
        self.seen += count
        counts = self.summary.counts
        counts["OK"] = counts.get("OK", 0) + count
        self._long(count)
        self.summary.folded += count

    def _long(self, added: int) -> None:
        """A long loop: from its item KEEP_SMALL + 1 on, only bad items are kept (the
        first ones too). `added`: the items just counted, not yet kept or folded."""
        if self.seen - added <= KEEP_SMALL < self.seen:
            self.kept = [child for child in self.kept if child.status.is_bad]
            self.summary.folded = self.seen - added - len(self.kept)

    def _fold(self, name: str, value: float) -> None:
        found = self.summary.ok_values.get(name)
        if found is None:
            self.summary.ok_values[name] = {"count": 1, "min": value, "max": value, "avg": value}
            self._sums[name] = value
            return
        found["count"] += 1
        found["min"] = min(found["min"], value)
        found["max"] = max(found["max"], value)
        self._sums[name] += value
        found["avg"] = self._sums[name] / found["count"]

    def finish(self, result: StepResult) -> None:
        """Put what was kept, and the counts, into the `for_each` step's result."""
        result.children = self.kept
        result.items_summary = self.summary


def _threshold_values(step: StepResult) -> Iterator[tuple[str, float]]:
    """`step_id.threshold` and its numeric value, for every threshold under `step`, in
    document order. Paid for every OK item, so a leaf without evaluations costs a test."""
    for child in step.children:
        for evaluation in child.evaluations:
            if evaluation.kind != "threshold":
                continue
            number = _number(evaluation.value)
            if number is not None:
                yield f"{child.id}.{evaluation.name}", number
        if child.children:
            yield from _threshold_values(child)


def _number(value: Any) -> float | None:
    """The value as a number to aggregate (an int stays an int), or None when it is not one."""
    if isinstance(value, bool) or not (isinstance(value, int | float) or is_decimal(value)):
        return None
    if isinstance(value, int):
        return value
    if is_decimal(value) and value.is_finite() and value == value.to_integral_value():
        return int(value)
    number = float(value)
    return number if math.isfinite(number) else None


def item_label(item: Any) -> str:
    """How an item is named in reports: its id or name, else itself, shortened."""
    if isinstance(item, Mapping):
        for key in ("id", "name", "staging_id", "STAGING_ID"):
            if key in item:
                return f"{key}={item[key]}"
    text = str(item)
    return text if len(text) <= 40 else text[:37] + "..."
