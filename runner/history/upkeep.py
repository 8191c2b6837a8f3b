"""The state store's upkeep: retention (`prune`) and, on SQLite, a daily `quick_check`.

Each task runs at most once a day, whichever process gets to it; when it last ran is
kept in the store's `maintenance` table (migration 4). `Upkeep` is a base of the
StateStore, whose backend, lock, clock and write transactions it uses.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any

from runner.base.clock import utc_text
from runner.base.errors import ConfigError
from runner.base.structs import Struct, field
from runner.history.backends import Backend
from runner.history.faults import StoreDamaged

#: How often the store's upkeep (pruning, SQLite's quick_check) runs at most.
MAINTENANCE_INTERVAL = timedelta(days=1)
#: Runs removed per write transaction, so other writers wait a moment at most.
PRUNE_BATCH = 500


class Pruned(Struct, frozen=True):
    """What a prune removed (or, with dry_run, would remove)."""

    runs: int = 0
    steps: int = 0
    deliveries: int = 0
    oldest: str | None = None  # started of the oldest run removed
    newest: str | None = None  # started of the newest run removed
    per_runbook: dict[str, int] = field(default_factory=dict)
    complete: bool = True  # False when `limit` stopped it before every old run was gone


class Upkeep:
    """Retention and integrity checks of a state store (a base of StateStore)."""

    _backend: Backend
    _lock: AbstractContextManager[Any]
    clock: Callable[[], datetime]

    @property
    def display(self) -> str:
        raise NotImplementedError

    def _write(self) -> AbstractContextManager[Backend]:
        raise NotImplementedError

    def maintenance_due(self, task: str, now: datetime | None = None) -> bool:
        """Whether `task` (prune, quick_check) last ran more than a day ago, or never."""
        with self._lock:
            if not self._backend.has_table("maintenance"):  # a store older than migration 4
                return True
            rows = self._backend.query("SELECT done FROM maintenance WHERE task = ?", (task,))
        moment = now or self.clock()
        return not rows or rows[0]["done"] < utc_text(moment - MAINTENANCE_INTERVAL)

    def maintenance_done(self, task: str, now: datetime | None = None) -> None:
        with self._write() as db:
            if not db.has_table("maintenance"):
                return
            db.execute(
                "INSERT INTO maintenance (task, done) VALUES (?, ?) "
                "ON CONFLICT (task) DO UPDATE SET done = excluded.done",
                (task, utc_text(now or self.clock())),
            )

    def prune(
        self,
        days: int,
        keep: int,
        *,
        now: datetime | None = None,
        dry_run: bool = False,
        limit: int | None = None,
    ) -> Pruned:
        """Remove runs started more than `days` ago, with their steps and deliveries,
        except the last `keep` runs of each runbook; at most `limit` runs (oldest first).

        Deliveries of no run (`runbook notify-test`) older than `days` go too. Each batch
        of PRUNE_BATCH runs is one write transaction. `dry_run` counts and removes nothing.
        """
        moment = now or self.clock()
        cutoff = utc_text(moment - timedelta(days=days))
        sql = (
            "SELECT run_id, runbook, started FROM ("
            "SELECT run_id, runbook, started, ROW_NUMBER() OVER "
            "(PARTITION BY runbook ORDER BY started DESC, run_id DESC) AS newer FROM runs"
            ") ranked WHERE newer > ? AND started < ? ORDER BY started, run_id"
        )
        params: list[Any] = [max(int(keep), 0), cutoff]
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit) + 1)
        with self._lock:
            found = self._backend.query(sql, params)
        complete = limit is None or len(found) <= limit
        found = found if limit is None else found[:limit]
        steps = deliveries = 0
        for start in range(0, len(found), PRUNE_BATCH):
            ids = [row["run_id"] for row in found[start : start + PRUNE_BATCH]]
            marks = ", ".join("?" for _ in ids)
            if dry_run:
                with self._lock:
                    steps += self._count(f"step_results WHERE run_id IN ({marks})", ids)
                    deliveries += self._count(f"deliveries WHERE run_id IN ({marks})", ids)
                continue
            with self._write() as db:
                steps += self._count(f"step_results WHERE run_id IN ({marks})", ids)
                deliveries += self._count(f"deliveries WHERE run_id IN ({marks})", ids)
                db.execute(f"DELETE FROM step_results WHERE run_id IN ({marks})", ids)
                db.execute(f"DELETE FROM deliveries WHERE run_id IN ({marks})", ids)
                db.execute(f"DELETE FROM runs WHERE run_id IN ({marks})", ids)
        orphans = "deliveries WHERE run_id IS NULL AND at < ?"
        if dry_run:
            with self._lock:
                deliveries += self._count(orphans, [cutoff])
        else:
            with self._write() as db:
                deliveries += self._count(orphans, [cutoff])
                db.execute(f"DELETE FROM {orphans}", (cutoff,))
        per_runbook: dict[str, int] = {}
        for row in found:
            per_runbook[row["runbook"]] = per_runbook.get(row["runbook"], 0) + 1
        return Pruned(
            runs=len(found),
            steps=steps,
            deliveries=deliveries,
            oldest=found[0]["started"] if found else None,
            newest=found[-1]["started"] if found else None,
            per_runbook=per_runbook,
            complete=complete,
        )

    def _count(self, where: str, params: Sequence[Any]) -> int:
        rows = self._backend.query(f"SELECT COUNT(*) AS n FROM {where}", params)
        return int(rows[0]["n"])

    def _check_integrity(self) -> None:
        """SQLite's `PRAGMA quick_check`, at most daily: a damaged file is refused with
        what to do, rather than run on (a damaged page may go unnoticed for weeks)."""
        if self._backend.dialect != "sqlite" or not self.maintenance_due("quick_check"):
            return
        try:
            with self._lock:
                rows = self._backend.query("PRAGMA quick_check(5)")
            found = [str(next(iter(row.values()))) for row in rows]
        except sqlite3.DatabaseError as exc:
            found = [str(exc)]
        except StoreDamaged as exc:  # the backend says which fault; quick_check's words
            found = [str(exc.__cause__ or exc)]
        if found != ["ok"]:
            raise ConfigError(
                f"{self.display}: the state store is damaged (PRAGMA quick_check: "
                f"{'; '.join(found)}); restore it from a backup, or move it aside "
                f"(mv {self.display} {self.display}.damaged) and the next run starts a new "
                "one"
            )
        self.maintenance_done("quick_check")
