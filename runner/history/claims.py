"""Schedule slots claimed: each (runbook, slot) is run by one scheduler, however many
share the store.

A `runbook scheduler` that is about to start a slot inserts a row into `claims`, whose
primary key is (runbook, slot), with `INSERT ... ON CONFLICT DO NOTHING`: on PostgreSQL
and on SQLite alike exactly one insert goes in, and only the scheduler whose insert
changed a row runs the slot; the others pass it over. The row says which host (and
pid) took the slot and when, so `claims` is also where a person looks for who ran what.

A claim whose scheduler died before its run was first recorded (while it loaded the
runbook, or waited for the run lock) is taken over: `claim_gone` says the claimant is
gone, as history/reconcile.py tells dead runs apart: on a shared PostgreSQL store, the
server has no session named after the claimant (each scheduler keeps one open,
`scheduler_session`, for its whole life; the server ends it with the process, or when
its host stops answering keepalives); on SQLite, it claimed on this host and its pid is
dead. `take_over_claim` is then one conditional UPDATE on the old host and pid, and on
`started IS NULL`, so of any number of schedulers that saw it gone one takes it, and
none once the slot's run began.

"Gone" can be wrong: a live scheduler whose named session dropped for a moment (a
network blip) looks gone while it is about to start the slot. What keeps the slot to
one run then is `confirm_claim`, which the run's first write (StateStore.start_run,
or the record of a run skipped by `concurrency: skip`) does in the same transaction as
the run's row: `UPDATE claims SET started = ...` where the claim is still this
scheduler's and not started. No row changed: the claim was taken over (or its run
began already), the transaction is rolled back and the run is refused, `ClaimLost`,
with no row of it. So a claim is taken over only before its run is recorded, and a run
is recorded only while its claim is its scheduler's: whichever of the two writes comes
first, the other finds nothing, and the slot runs at most once. The price: a slot whose start
cannot be written at all (the store unreachable just then) is not run
(service/runs.py), as a slot that cannot be claimed is not; `runbook status` shows it
late. A claim whose run started is never taken back, even when its run died with its
host (reconciled `abandoned`, history/reconcile.py): its steps may have done part of
their work (docs/scheduling.md, "Several hosts").

`Claims` is a base of the StateStore, whose write transactions it uses, as Reconcile is.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, NamedTuple

from runner.base.clock import utc_text
from runner.base.errors import RunbookError
from runner.base.hostname import hostname
from runner.history.backends import Backend
from runner.history.reconcile import Alive, pid_alive

#: Marks a scheduler's own session of a shared store in pg_stat_activity:
#: "runbook scheduler <pid> <host>" (history/claims.py `scheduler_session`).
SCHEDULER_APPLICATION = "runbook scheduler "


def scheduler_session(host: str, pid: int) -> str:
    """What the session a scheduler keeps open on a shared store is called: its claims'
    host and pid (63 bytes at most on the server, so a long host name is cut)."""
    return f"{SCHEDULER_APPLICATION}{pid} {host}".encode()[:63].decode(errors="ignore")


class Claim(NamedTuple):
    """The scheduler a run of a slot is for: the host and pid its claim was made in."""

    host: str
    pid: int


class ClaimLost(RunbookError):
    """A run of a claimed slot refused at its first write: its claim is not its
    scheduler's any more (taken over by another), or its run started already."""


class Claims:
    """Claiming schedule slots, and forgetting old claims (a base of StateStore)."""

    _backend: Backend
    _lock: AbstractContextManager[Any]
    clock: Callable[[], datetime]

    def _write(self) -> AbstractContextManager[Backend]:
        raise NotImplementedError

    def claim_slot(
        self, runbook: str, slot: datetime, *, host: str, pid: int | None, at: datetime
    ) -> bool:
        """Claim (`runbook`, `slot`) for `host`: True for the one claim that went in,
        False when another scheduler (or this one, earlier) has it already."""
        with self._write() as db:
            changed = db.execute(
                "INSERT INTO claims (runbook, slot, host, pid, claimed) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT DO NOTHING",
                (runbook, utc_text(slot), host, pid, utc_text(at)),
            )
        return changed == 1

    def claim_of(self, runbook: str, slot: datetime) -> dict[str, Any] | None:
        """Who claimed (`runbook`, `slot`) and when: {host, pid, claimed}, or None."""
        with self._lock:
            rows = self._backend.query(
                "SELECT host, pid, claimed FROM claims WHERE runbook = ? AND slot = ?",
                (runbook, utc_text(slot)),
            )
        return dict(rows[0]) if rows else None

    def name_scheduler(self, host: str, pid: int) -> bool:
        """Name this store's session after the scheduler (`host`, `pid`), so other hosts
        see its claims' holder alive while it lives; False on SQLite (one host: its pid
        says)."""
        if self._backend.dialect != "postgres":
            return False
        with self._lock:
            self._backend.name_session(scheduler_session(host, pid))
        return True

    def keep_named(self) -> None:
        """Touch the session (one small read): a dropped connection is opened again,
        under its name, so the scheduler stays visible."""
        with self._lock:
            self._backend.query("SELECT 1 AS one")

    def slot_ran(self, runbook: str, slot: datetime) -> bool:
        """Whether a run of (`runbook`, `slot`) was recorded (whatever became of it)."""
        with self._lock:
            rows = self._backend.query(
                "SELECT 1 AS found FROM runs WHERE runbook = ? AND slot = ?",
                (runbook, utc_text(slot)),
            )
        return bool(rows)

    def claim_gone(
        self,
        runbook: str,
        slot: datetime,
        holder: dict[str, Any],
        *,
        host: str | None = None,
        alive: Alive = pid_alive,
    ) -> bool:
        """Whether the claimant `holder` ({host, pid, claimed}) of (`runbook`, `slot`)
        is gone. One that is alive, or that cannot be told (no pid; another host's on
        SQLite), keeps its claim."""
        if holder.get("pid") is None:
            return False
        pid = int(holder["pid"])
        if self._backend.dialect == "postgres":
            with self._lock:
                sessions = self._backend.query(
                    "SELECT 1 AS found FROM pg_stat_activity WHERE application_name = ?",
                    (scheduler_session(str(holder["host"]), pid),),
                )
            return not sessions
        here = host if host is not None else hostname()
        return holder["host"] == here and not alive(pid, holder.get("claimed"))

    def take_over_claim(
        self,
        runbook: str,
        slot: datetime,
        holder: dict[str, Any],
        *,
        host: str,
        pid: int,
        at: datetime,
    ) -> bool:
        """Move the claim of (`runbook`, `slot`) from `holder` to `host`/`pid`: True for
        the one scheduler whose UPDATE found it still the holder's, its run not started."""
        with self._write() as db:
            changed = db.execute(
                "UPDATE claims SET host = ?, pid = ?, claimed = ? "
                "WHERE runbook = ? AND slot = ? AND host = ? AND pid = ? AND started IS NULL",
                (host, pid, utc_text(at), runbook, utc_text(slot), holder["host"], holder["pid"]),
            )
        return changed == 1

    def confirm_claim(
        self, db: Backend, runbook: str, slot: datetime, claim: Claim, at: datetime
    ) -> None:
        """Mark the claim of (`runbook`, `slot`) started at `at`, inside the write
        transaction `db` that records the run's first row; raise ClaimLost (and the
        caller's transaction is rolled back) when it is not `claim`'s any more, or its
        run started already."""
        changed = db.execute(
            "UPDATE claims SET started = ? "
            "WHERE runbook = ? AND slot = ? AND host = ? AND pid = ? AND started IS NULL",
            (utc_text(at), runbook, utc_text(slot), claim.host, claim.pid),
        )
        if changed == 1:
            return
        rows = db.query(
            "SELECT host, pid, claimed, started FROM claims WHERE runbook = ? AND slot = ?",
            (runbook, utc_text(slot)),
        )
        if not rows:
            raise ClaimLost("its claim is gone (forgotten as too old); not run here")
        now = rows[0]
        if (now["host"], now["pid"]) != (claim.host, claim.pid):
            taker = f"{now['host']} (pid {now['pid']}) at {now['claimed']}"
            raise ClaimLost(f"its claim was taken over by {taker}; not run here")
        raise ClaimLost(f"its run started already, at {now['started']}; not run here")

    def forget_claims(self, before: datetime) -> int:
        """Delete the claims of slots older than `before`; how many went."""
        with self._write() as db:
            return max(0, db.execute("DELETE FROM claims WHERE slot < ?", (utc_text(before),)))
