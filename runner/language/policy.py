"""Notify policies: who hears about which outcome, as `notify:`, `alert:` and runner.yaml's
`notifications.policy` write it. The decision of what to send lives in alerts/decide.py."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from runner.base.durations import parse_duration
from runner.base.status import Status

#: Statuses kept per subject for "N of M"; M may not be larger.
MAX_RECENT = 50

#: Policy keys that name tags (checked against the configured tags by validation).
TAG_KEYS = ("warning", "critical", "unknown", "recovered", "retried", "late")
_N_OF_M = re.compile(r"^\s*(\d+)\s+of\s+(\d+)\s*$")


def tag_list(value: Any) -> tuple[str, ...]:
    """`ops`, `"ops, oncall"` or `[ops, oncall]` as a tuple of tags, in order, once each."""
    if value is None:
        return ()
    items = value.split(",") if isinstance(value, str) else list(value)
    return tuple(dict.fromkeys(str(item).strip() for item in items if str(item).strip()))


def parse_escalations(value: Any) -> tuple[tuple[float, tuple[str, ...]], ...]:
    """`escalate:` as (seconds, tags) stages, in the order they fire: one mapping
    (`{after: 30m, to: [dev]}`) or a list of them, a ladder (`[{after: 30m, to: [dev]},
    {after: 2h, to: [management]}]`). Each stage's `after` must be later than the one
    before it; ValueError says which is not."""
    if not value:
        return ()
    if isinstance(value, Mapping):
        items = [value]
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        return ()  # not a stage at all: the schema says so
    stages: list[tuple[float, tuple[str, ...]]] = []
    for index, item in enumerate(items):
        if not isinstance(item, Mapping) or item.get("after") is None:
            continue  # the schema says what is missing
        try:
            after, tags = parse_duration(item["after"]), tag_list(item.get("to"))
        except (TypeError, ValueError):
            continue  # not a duration, not tags: the schema says so
        if stages and after <= stages[-1][0]:
            raise ValueError(
                f"stage {index + 1} escalates after {item['after']}, not later than stage "
                f"{index}: each stage of an escalation ladder fires later than the one before"
            )
        stages.append((after, tags))
    return tuple(stages)


def parse_after(value: Any) -> tuple[int, int | None]:
    """`3` -> (3, None): three bad runs in a row; `"3 of 5"` -> (3, 5)."""
    if value is None:
        return 1, None
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise ValueError(f"after: {value} must be 1 or more")
        return value, None
    match = _N_OF_M.match(str(value))
    if not match:
        raise ValueError(f"after: {value!r} is not a count of runs: write 3, or '3 of 5'")
    count, window = int(match.group(1)), int(match.group(2))
    if count < 1 or window < count or window > MAX_RECENT:
        raise ValueError(
            f"after: {value!r} must be N of M with 1 <= N <= M <= {MAX_RECENT}, such as '3 of 5'"
        )
    return count, window


@dataclass(frozen=True)
class Policy:
    """Who hears about which outcome; built from `notify:` / `alert:` mappings."""

    warning: tuple[str, ...] = ()
    critical: tuple[str, ...] = ()
    unknown: tuple[str, ...] | None = None  # None: the critical tags
    recovered: tuple[str, ...] = ()
    retried: tuple[str, ...] = ()
    late: tuple[str, ...] = ()  # a scheduled runbook LATE, and on time again (scheduler)
    repeat: float | None = None  # seconds; None: never repeat an unchanged failure
    # (seconds CRITICAL, tags) for each stage of escalation, in the order they fire
    escalations: tuple[tuple[float, tuple[str, ...]], ...] = ()
    after: int = 1
    within: int | None = None  # M of "N of M"; None: N runs in a row
    title: str | None = None
    body: str | None = None

    @classmethod
    def from_raw(cls, raw: Mapping[str, Any] | None, base: Policy | None = None) -> Policy:
        """`base` with the keys `raw` sets replaced (a runbook overrides runner.yaml key by key)."""
        policy = base or cls()
        if not raw:
            return policy
        changes: dict[str, Any] = {}
        for key in TAG_KEYS:
            if key in raw:
                changes[key] = tag_list(raw[key])
        if "repeat" in raw:
            changes["repeat"] = parse_duration(raw["repeat"]) if raw["repeat"] else None
        if "escalate" in raw:
            changes["escalations"] = parse_escalations(raw["escalate"])
        if "after" in raw:
            changes["after"], changes["within"] = parse_after(raw["after"])
        for key in ("title", "body"):
            if key in raw:
                changes[key] = raw[key]
        return replace(policy, **changes)

    def tags_for(self, status: Status) -> tuple[str, ...]:
        if status is Status.WARNING:
            return self.warning
        if status is Status.CRITICAL:
            return self.critical
        if status is Status.UNKNOWN:
            return self.critical if self.unknown is None else self.unknown
        return ()

    def all_tags(self) -> tuple[str, ...]:
        tags = (
            *self.warning,
            *self.critical,
            *(self.unknown or ()),
            *self.recovered,
            *self.retried,
            *self.late,
            *(tag for _, tags in self.escalations for tag in tags),
        )
        return tuple(dict.fromkeys(tags))

    @property
    def routes_anything(self) -> bool:
        return bool(self.all_tags())
