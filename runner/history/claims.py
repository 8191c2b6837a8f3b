"""Schedule slots claimed: each (runbook, slot) is run by one scheduler, however many
share the store.

A `runbook scheduler` that is about to start a slot inserts a row into `claims`, whose
primary key is (runbook, slot), with `INSERT ... ON CONFLICT DO NOTHING`: on PostgreSQL
and on SQLite alike exactly one insert goes in, and only the scheduler whose insert
changed a row runs the slot; the others pass it over. The row says which host (and
pid) took the slot and when, so `claims` is also where a person looks for who ran what.

A claim is never taken back: a slot whose run died with its host (reconciled
`abandoned`, history/reconcile.py) is not run again by another one, as its steps may
have done part of their work (docs/scheduling.md, "HA").

`Claims` is a base of the StateStore, whose write transactions it uses, as Reconcile is.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

from runner.base.clock import utc_text
from runner.history.backends import Backend


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

    def forget_claims(self, before: datetime) -> int:
        """Delete the claims of slots older than `before`; how many went."""
        with self._write() as db:
            return max(0, db.execute("DELETE FROM claims WHERE slot < ?", (utc_text(before),)))
