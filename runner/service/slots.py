"""The slots of `runbook scheduler`: which fire times of a schedule run, when, with what
trigger, and the claim that lets one scheduler of many run each.

- `slots_due` turns the slots that came due since a runbook was last looked at into
  queued runs (`Due`): a slot noticed within ON_TIME of its time runs at the slot plus
  its jitter (trigger `schedule`); an older one was missed and `catchup:` says which
  of those inside `catchup_window:` run, at once (trigger `catchup`).
- `SlotClaims` keeps each slot from being queued twice by this scheduler (the clock
  going back, a rescan), and claims it in the state store just before it starts
  (history/claims.py): a row unique on (runbook, slot), so that of any number of
  schedulers sharing the store exactly one runs it. Claiming at the start, not when
  queued, means a scheduler that dies with a slot still waiting for its jitter leaves
  it to the others.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, Protocol

from runner.language.model import Runbook
from runner.schedule.cron import CronSchedule

#: A slot noticed at most this long after its time runs on time (trigger `schedule`);
#: an older one was missed and is caught up by `catchup:`.
ON_TIME = timedelta(seconds=60)
#: How often, and how much longer than the longest catch-up window, claims are kept.
CLAIMS_KEPT = timedelta(hours=1)


class Due(NamedTuple):
    """A run waiting in the queue: when it may start, the slot it is for, and why."""

    start: datetime
    slot: datetime
    runbook: str
    trigger: str  # schedule | catchup


class Scheduled:
    """A scheduled runbook as the scheduler knows it: its last version that validated,
    its file's fingerprint, and up to when its slots have been looked at."""

    def __init__(self, model: Runbook, schedule: CronSchedule, seen: tuple[int, int]) -> None:
        self.model = model
        self.schedule = schedule
        self.seen = seen  # (mtime_ns, size) of the file as last read
        self.looked: datetime | None = None  # slots up to here were queued or passed over
        self.next: datetime | None = None  # its first slot after `looked`, once known


def jitter_delay(runbook: str, slot: datetime, jitter: float) -> float:
    """Seconds in [0, jitter) a run of `slot` starts late: spread, and the same for the
    same runbook and slot on every host and every restart."""
    if jitter <= 0:
        return 0.0
    key = f"{runbook}\0{slot.astimezone(UTC).isoformat()}".encode()
    fraction = int.from_bytes(hashlib.sha256(key).digest()[:8], "big") / 2**64
    return jitter * fraction


def missed_to_run(catchup: str, missed: list[datetime], on_time: bool) -> list[datetime]:
    """Which missed slots (oldest first) `catchup:` runs: none, each (`all`), or the
    newest (`latest`), which a slot due now already is."""
    if catchup == "all":
        return missed
    if catchup == "latest" and missed and not on_time:
        return missed[-1:]
    return []


def slots_due(
    name: str, entry: Scheduled, now: datetime, jitter: bool, log: Callable[[str], None]
) -> list[Due]:
    """The runs of `entry`'s slots that came due after it was last looked at: on time,
    or missed and caught up by its `catchup:` inside its `catchup_window:`. Moves
    `entry.looked` and `entry.next` on."""
    model = entry.model
    # Never looked at (no run of a slot in the store): from ON_TIME ago, so nothing is
    # caught up for a runbook the scheduler has never run.
    looked = entry.looked if entry.looked is not None else now - ON_TIME
    entry.looked = max(looked, now)
    if now <= looked:  # the clock went back: those slots were looked at already
        return []
    if entry.next is not None and now < entry.next:
        return []  # nothing came due: croniter is not asked
    window = timedelta(seconds=model.catchup_window)
    since = max(looked, now - max(window, ON_TIME))  # nothing older is looked at
    on_time: list[datetime] = []
    missed: list[datetime] = []
    for slot in entry.schedule.between(since, now):
        (on_time if now - slot <= ON_TIME else missed).append(slot)
    caught = missed_to_run(model.catchup, missed, bool(on_time))
    if len(caught) < len(missed):
        passed = len(missed) - len(caught)
        log(
            f"{name}: {passed} missed slot(s) not run (catchup: {model.catchup}), "
            f"the newest {utc_minute(missed[-1])}"
        )
    due = [Due(now, slot, name, "catchup") for slot in caught]
    for slot in on_time:
        delay = jitter_delay(name, slot, model.jitter) if jitter else 0.0
        due.append(Due(slot + timedelta(seconds=delay), slot, name, "schedule"))
    upcoming = entry.schedule.next_times(now, 1)
    entry.next = upcoming[0] if upcoming else None
    return due


class ClaimStore(Protocol):
    """What claiming needs of the state store (history/claims.py)."""

    def claim_slot(
        self, runbook: str, slot: datetime, *, host: str, pid: int | None, at: datetime
    ) -> bool: ...

    def claim_of(self, runbook: str, slot: datetime) -> dict[str, Any] | None: ...

    def forget_claims(self, before: datetime) -> int: ...


class SlotClaims:
    """The slots this scheduler queued (in memory), and their claims in the state store.

    `open_store()` opens the store for one claim (and closes it): a connection lost
    between two slots costs nothing. `host` and `pid` are written into each claim."""

    def __init__(
        self,
        open_store: Callable[[], AbstractContextManager[ClaimStore]],
        host: str,
        pid: int | None = None,
    ) -> None:
        self._open_store = open_store
        self.host = host
        self.pid = os.getpid() if pid is None else pid
        self.queued: set[tuple[str, datetime]] = set()
        self._kept_since: datetime | None = None

    def first_time(self, runbook: str, slot: datetime) -> bool:
        """Whether this scheduler queues (`runbook`, `slot`) now for the first time."""
        key = (runbook, slot.astimezone(UTC))
        if key in self.queued:
            return False
        self.queued.add(key)
        return True

    def claim(self, runbook: str, slot: datetime, now: datetime) -> str | None:
        """Claim the slot in the store: None when this scheduler runs it, else who has
        it ("host-b at 2026-06-01T10:00:00.1Z"). Store errors are the caller's."""
        with self._open_store() as store:
            if store.claim_slot(runbook, slot, host=self.host, pid=self.pid, at=now):
                return None
            holder = store.claim_of(runbook, slot)
        if holder is None:  # claimed and forgotten meanwhile: still not ours
            return "another scheduler"
        return f"{holder['host']} (pid {holder['pid']}) at {holder['claimed']}"

    def forget(self, now: datetime, windows: Iterable[float]) -> int | None:
        """Hourly, the claims of slots older than any window, here and in the store: no
        look goes that far back (a runbook's slots are looked at once, forwards). How
        many left the store; None when it was not yet time."""
        if self._kept_since is not None and now - self._kept_since < CLAIMS_KEPT:
            return None
        self._kept_since = now
        oldest = now - timedelta(seconds=max(windows, default=0.0)) - CLAIMS_KEPT - ON_TIME
        self.queued = {key for key in self.queued if key[1] >= oldest}
        with self._open_store() as store:
            return store.forget_claims(oldest)


def utc_minute(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")
