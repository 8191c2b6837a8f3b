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
  it to the others. A scheduler that dies after its claim but before its run is first
  recorded would leave the slot to nobody: the ones that lost the claim take it over
  (`SlotClaims.recheck`, once a tick while the slot is inside its catch-up window) when
  the slot has no run and the claimant is gone, its session of the store ended.
  "Gone" may be a live scheduler whose session dropped for a moment: its run's first
  write confirms its claim or refuses the run (history/claims.py `confirm_claim`), and
  a claim whose run started is never taken over, so the slot still runs at most once.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, suppress
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

    def name_scheduler(self, host: str, pid: int) -> bool: ...

    def keep_named(self) -> None: ...

    def slot_ran(self, runbook: str, slot: datetime) -> bool: ...

    def claim_gone(self, runbook: str, slot: datetime, holder: dict[str, Any]) -> bool: ...

    def take_over_claim(
        self,
        runbook: str,
        slot: datetime,
        holder: dict[str, Any],
        *,
        host: str,
        pid: int,
        at: datetime,
    ) -> bool: ...


class Claimed(NamedTuple):
    """What claiming a slot came to: whether this scheduler runs it, and who has it (or
    whom it was taken over from; "" when the claim went in at once)."""

    ours: bool
    holder: str = ""


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
        self.lost: dict[tuple[str, datetime], Due] = {}  # claimed by another: rechecked
        self._kept_since: datetime | None = None
        # The store session named after this scheduler (a shared store): its claims'
        # holder is alive while it is open. False: not needed (SQLite).
        self._presence: tuple[AbstractContextManager[ClaimStore], ClaimStore] | bool = True

    def first_time(self, runbook: str, slot: datetime) -> bool:
        """Whether this scheduler queues (`runbook`, `slot`) now for the first time."""
        key = (runbook, slot.astimezone(UTC))
        if key in self.queued:
            return False
        self.queued.add(key)
        return True

    def claim(self, due: Due, now: datetime) -> Claimed:
        """Claim the slot of `due` in the store, or take over a claim whose scheduler is
        gone before its run was recorded. A claim lost to a live scheduler is kept to be
        rechecked (`recheck`). Store errors are the caller's."""
        self.keep_present()  # never a claim that others could not see alive
        runbook, slot = due.runbook, due.slot
        with self._open_store() as store:
            if store.claim_slot(runbook, slot, host=self.host, pid=self.pid, at=now):
                return Claimed(True)
            holder = store.claim_of(runbook, slot)
            if holder is None:  # claimed and forgotten meanwhile: still not ours
                return Claimed(False, "another scheduler")
            if not store.slot_ran(runbook, slot) and self._take_over(
                store, runbook, slot, holder, now
            ):
                return Claimed(True, _holder(holder))
        self.lost[(runbook, slot.astimezone(UTC))] = due
        return Claimed(False, _holder(holder))

    def recheck(self, now: datetime, windows: dict[str, float]) -> list[tuple[Due, str]]:
        """The lost claims whose slot has no run and whose scheduler is gone, now taken
        over by this one: each a run due now and whom it was taken from. Slots outside
        their runbook's catch-up window (or of a runbook no longer scheduled) are given
        up. Store errors are the caller's (the next tick tries again)."""
        for key in list(self.lost):
            window = windows.get(key[0])
            if window is None or now - key[1] > max(timedelta(seconds=window), ON_TIME):
                del self.lost[key]
        if not self.lost:
            return []
        self.keep_present()
        taken: list[tuple[Due, str]] = []
        with self._open_store() as store:
            for key, due in list(self.lost.items()):
                holder = store.claim_of(due.runbook, due.slot)
                if holder is None or store.slot_ran(due.runbook, due.slot):
                    del self.lost[key]  # forgotten (too old), or its run was recorded
                elif self._take_over(store, due.runbook, due.slot, holder, now):
                    del self.lost[key]
                    taken.append((due._replace(start=now), _holder(holder)))
        return taken

    def _take_over(
        self,
        store: ClaimStore,
        runbook: str,
        slot: datetime,
        holder: dict[str, Any],
        now: datetime,
    ) -> bool:
        if (holder["host"], holder["pid"]) == (self.host, self.pid):
            return False  # this scheduler's own claim: it runs it, or ran it
        if not store.claim_gone(runbook, slot, holder):
            return False
        return store.take_over_claim(runbook, slot, holder, host=self.host, pid=self.pid, at=now)

    def keep_present(self) -> None:
        """Open (or touch) this scheduler's named session of a shared store, which tells
        other schedulers its claims are alive. Store errors are the caller's."""
        if self._presence is False:
            return
        if isinstance(self._presence, tuple):
            try:
                self._presence[1].keep_named()
                return
            except Exception:
                self.close()  # opened again below
        opened = self._open_store()
        store = opened.__enter__()
        try:
            named = store.name_scheduler(self.host, self.pid)
        except BaseException:
            opened.__exit__(None, None, None)
            raise
        if named:
            self._presence = (opened, store)
        else:
            opened.__exit__(None, None, None)
            self._presence = False

    def close(self) -> None:
        """Close the named session: this scheduler's claims are its no more."""
        if isinstance(self._presence, tuple):
            opened, self._presence = self._presence[0], True
            with suppress(Exception):
                opened.__exit__(None, None, None)

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


def _holder(claim: dict[str, Any]) -> str:
    return f"{claim['host']} (pid {claim['pid']}) at {claim['claimed']}"


def utc_minute(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")
