"""Announce late runbooks: `runbook scheduler` tells the `late:` tags of a runbook's
notify policy once when it becomes LATE (runner/schedule/lateness.py), and once when it
runs again.

What was announced is kept in the state store, in the runbook's alert state under the
subject `@late` (no step id starts with `@`): `announced` is `CRITICAL` while the
lateness is announced, `opened` the slot it was for. The decision is taken in the
store's write transaction (StateStore.update_alerts), so schedulers on several hosts
sharing one store announce it once between them; a message nobody heard is tried again
at the next look.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from contextlib import suppress
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from runner.alerts.announce import runbook_policy
from runner.base.clock import utc_text
from runner.base.errors import RunbookError
from runner.base.status import Status
from runner.language.scheduling import effective_grace
from runner.notifiers.deliver import Message, deliver
from runner.schedule.lateness import Late, late

if TYPE_CHECKING:
    from runner.history.store import StateStore
    from runner.language.config import Config
    from runner.language.model import Runbook
    from runner.notifiers.services import Notifier
    from runner.schedule.cron import CronSchedule

__all__ = ["LATE_SUBJECT", "announce_lateness"]

#: The alert state's subject of a runbook's lateness.
LATE_SUBJECT = "@late"


def announce_lateness(
    watched: Iterable[tuple[Runbook, CronSchedule]],
    config: Config,
    store: StateStore,
    notifier: Notifier,
    now: datetime,
) -> list[dict[str, Any]]:
    """Announce each runbook of `watched` that became LATE, or on time again, since the
    last look, to its policy's `late:` tags; the deliveries, recorded in the store. One
    query of the store for all their runs."""
    chosen = [
        (runbook, schedule, policy)
        for runbook, schedule in watched
        if (policy := runbook_policy(runbook, config)).late
    ]
    if not chosen:
        return []
    starts = store.newest_starts()
    deliveries: list[dict[str, Any]] = []
    for runbook, schedule, policy in chosen:
        grace = effective_grace(runbook)
        if grace is None:
            continue
        newest = starts.get(runbook.name)
        found = late(schedule, grace, now, newest, _written(runbook) if newest is None else None)
        kind = _change(store, runbook.name, found, now)
        if kind is None:
            continue
        message = _message(runbook.name, kind, found, policy.late, grace)
        sent = deliver(message, notifier, run_id=None, runbook=runbook.name, now=now)
        if sent and not any(item["ok"] for item in sent):
            _forget(store, runbook.name, kind)  # nobody heard it: said again next time
        deliveries.extend(sent)
    store.record_deliveries(deliveries)
    return deliveries


def _change(store: StateStore, name: str, found: Late | None, now: datetime) -> str | None:
    """`late` or `on_time` when the announced state of `name` changes, else None;
    decided and written in one transaction of the store."""

    def change(rows: dict[str, dict[str, Any]]) -> tuple[dict[str, dict[str, Any]], str | None]:
        row = {"streak": 0, **(rows.get(LATE_SUBJECT) or {})}
        announced = bool(row.get("announced"))
        if found is not None and not announced:
            slot = utc_text(found.slot)
            state = {"status": "CRITICAL", "announced": "CRITICAL", "opened": slot}
            return {LATE_SUBJECT: {**row, **state, "last_sent": utc_text(now)}}, "late"
        if found is None and announced:
            state = {"status": "OK", "announced": None, "opened": None}
            return {LATE_SUBJECT: {**row, **state, "last_sent": utc_text(now)}}, "on_time"
        return {}, None

    try:
        return store.update_alerts(name, change)
    except RunbookError:
        return None  # the store is busy or broken: the next look decides again


def _forget(store: StateStore, name: str, kind: str) -> None:
    """Undo the announced state of a message that reached nobody."""
    back = {"status": "OK", "announced": None} if kind == "late" else {"status": "CRITICAL"}
    if kind == "on_time":
        back["announced"] = "CRITICAL"
    with suppress(RunbookError):
        store.update_alerts(
            name,
            lambda rows: (
                {LATE_SUBJECT: {"streak": 0, **rows.get(LATE_SUBJECT, {}), **back}},
                None,
            ),
        )


def _message(
    name: str, kind: str, found: Late | None, tags: tuple[str, ...], grace: float
) -> Message:
    if kind == "late" and found is not None:
        title = f"LATE {name}: its {_minute(found.slot)} run did not happen"
        ran = (
            f"Its last run started {utc_text(found.last_started)}."
            if found.last_started is not None
            else "It has never run."
        )
        body = (
            f"Runbook **{name}** should have run at {utc_text(found.slot)} and has not, "
            f"{grace:g}s of grace later. {ran} Check whatever runs it: `runbook scheduler`, "
            f"cron, systemd or Kubernetes (`runbook status`, `runbook history {name}`)."
        )
        return Message("late", LATE_SUBJECT, Status.CRITICAL, tags, title, body, "failure")
    title = f"ON TIME {name}: it runs again"
    body = f"Runbook **{name}** ran for its last slot: it is no longer late."
    return Message("on_time", LATE_SUBJECT, Status.OK, tags, title, body, "ok")


def _minute(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


def _written(runbook: Runbook) -> datetime | None:
    """When the runbook's file was last written: a runbook that never ran is not late for
    slots before it."""
    with suppress(OSError):
        return datetime.fromtimestamp(os.stat(runbook.path).st_mtime, UTC)
    return None
