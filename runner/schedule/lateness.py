"""Late detection, the dead man's switch of a schedule: whether a scheduled runbook's
last due slot has a run, whoever started it (`runbook scheduler`, cron, systemd,
Kubernetes or a person running `runbook run`).

A slot is due once `grace` has passed since its fire time. The runbook is LATE when its
newest due slot has no run that started at or after it, and no run of it is still going
(a run that started before the slot and is still running is on time: the slot is held
up by it, not forgotten). A runbook that has never run is LATE once a slot is due that
came after `since` (when its file was written): a runbook just added is not late for
slots from before it existed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, NamedTuple

from runner.base.timestamps import timestamp

if TYPE_CHECKING:  # judge alone (`status` with its due slots cached) needs no cron
    from runner.schedule.cron import CronSchedule

__all__ = ["Late", "due_slot", "judge", "late"]


class Late(NamedTuple):
    """A runbook that missed its slot: the slot, the grace it had, and when its newest
    run started (None: it never ran)."""

    slot: datetime
    grace: float
    last_started: datetime | None

    def as_dict(self) -> dict[str, object]:
        """As `runbook status --format json` shows it (docs/output.md)."""
        return {
            "slot": timestamp(self.slot),
            "grace": self.grace,
            "last_started": timestamp(self.last_started),
            "never_ran": self.last_started is None,
        }


def due_slot(schedule: CronSchedule, grace: float, now: datetime) -> datetime | None:
    """The newest slot of `schedule` at or before `now - grace`, in UTC: the one that must
    have a run by now. None when the schedule never fired."""
    found = schedule.last_at_or_before(now - timedelta(seconds=grace))
    return found.astimezone(UTC) if found is not None else None


def judge(
    slot: datetime | None,
    grace: float,
    newest: tuple[datetime, bool] | None,
    since: datetime | None = None,
) -> Late | None:
    """Whether a runbook whose due slot is `slot` is late, by its newest run (when it
    started, whether it is still going; None: it never ran). `since`: for a runbook that
    never ran, slots before it do not count."""
    if slot is None:
        return None
    if newest is None:
        if since is not None and slot < since:
            return None
        return Late(slot, grace, None)
    started, running = newest
    if running or started >= slot:
        return None
    return Late(slot, grace, started)


def late(
    schedule: CronSchedule,
    grace: float,
    now: datetime,
    newest: tuple[datetime, bool] | None,
    since: datetime | None = None,
) -> Late | None:
    """Whether the runbook scheduled by `schedule` is late at `now` (due_slot, judge)."""
    return judge(due_slot(schedule, grace, now), grace, newest, since)
