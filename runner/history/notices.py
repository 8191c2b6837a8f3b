"""The alert state of each runbook and the deliveries of its notifications, as the state
store keeps them (a base of StateStore): claimed and updated in one write transaction,
so two runs that finish at once never send the same alert twice."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any, TypeVar

from runner.base.clock import utc_text
from runner.history.backends import Backend
from runner.history.records import (
    ALERT_COLUMNS,
    DELIVERY_COLUMNS,
    alert_dict,
    alert_row,
    delivery_dict,
    where_clause,
)

T = TypeVar("T")


class Notices:
    """Alert state and deliveries of a state store (a base of StateStore)."""

    _backend: Backend
    _lock: AbstractContextManager[Any]

    def _write(self) -> AbstractContextManager[Backend]:
        raise NotImplementedError

    def _text(self, value: Any) -> str | None:
        raise NotImplementedError

    def update_alerts(
        self,
        runbook: str,
        change: Callable[[dict[str, dict[str, Any]]], tuple[dict[str, dict[str, Any]], T]],
    ) -> T:
        """Read the alert state of `runbook`, let `change` decide, and write what it returns.

        All in one write transaction (serialised with every writer, on every host), so
        two runs that finish at once decide one after the other: the second sees what
        the first claimed, and the same alert is never sent twice. `change` gets
        {subject: row} and returns the rows to write (same shape) and whatever the
        caller wants back.
        """
        with self._write() as db:
            rows = db.query("SELECT * FROM alert_state WHERE runbook = ?", (runbook,))
            current = {row["subject"]: alert_dict(row) for row in rows}
            updated, answer = change(current)
            now = utc_text(datetime.now(UTC))
            db.executemany(
                f"INSERT INTO alert_state ({', '.join(ALERT_COLUMNS)}) "
                f"VALUES ({', '.join('?' for _ in ALERT_COLUMNS)}) "
                "ON CONFLICT (runbook, subject) DO UPDATE SET "
                + ", ".join(f"{c} = excluded.{c}" for c in ALERT_COLUMNS[2:]),
                [alert_row(runbook, subject, row, now) for subject, row in updated.items()],
            )
        return answer

    def alert_states(self, runbook: str | None = None) -> list[dict[str, Any]]:
        """The alert state rows, of one runbook or all; open incidents have `announced` set."""
        clauses, params = where_clause(runbook=runbook)
        with self._lock:
            rows = self._backend.query(
                f"SELECT * FROM alert_state {clauses} ORDER BY runbook, subject", params
            )
        return [{"runbook": row["runbook"], **alert_dict(row)} for row in rows]

    def send_again(
        self,
        runbook: str,
        subject: str,
        run_id: str,
        *,
        message: bool,
        escalated: int | None,
        failing: Sequence[str] | None = None,
    ) -> None:
        """Undo a claim whose message reached nobody, so the next run sends it again.

        `escalated`, when given, is how many stages of the escalation ladder were
        announced before the lost message (they are due again). `failing`, when given,
        replaces the failing steps people were told about (what
        they knew before the lost message). Only while the row is still the one
        `run_id` wrote: a later run's claim is never undone because an earlier run's
        message failed.
        """
        where = "WHERE runbook = ? AND subject = ? AND last_run_id = ?"
        with self._write() as db:
            db.execute(
                "UPDATE alert_state SET "
                "last_sent = CASE WHEN ? = 1 THEN NULL ELSE last_sent END, "
                f"escalated = COALESCE(?, escalated) {where}",
                (int(message), escalated, runbook, subject, run_id),
            )
            if failing is not None:
                db.execute(
                    f"UPDATE alert_state SET failing_json = ? {where}",
                    (json.dumps(list(failing)), runbook, subject, run_id),
                )

    def record_deliveries(self, deliveries: Sequence[Mapping[str, Any]]) -> None:
        """Store deliveries (see the `deliveries` table), masked."""
        if not deliveries:
            return
        rows = self._delivery_rows(deliveries)
        with self._write() as db:
            db.executemany(
                f"INSERT INTO deliveries ({', '.join(DELIVERY_COLUMNS)}) "
                f"VALUES ({', '.join('?' for _ in DELIVERY_COLUMNS)})",
                rows,
            )

    def _delivery_rows(self, deliveries: Sequence[Mapping[str, Any]]) -> list[list[Any]]:
        rows = []
        for item in deliveries:
            values = {**item, "ok": 1 if item.get("ok") else 0}
            if isinstance(values.get("tags"), list | tuple):
                values["tags"] = ",".join(values["tags"])
            if isinstance(values.get("at"), datetime):
                values["at"] = utc_text(values["at"])
            rows.append(
                [
                    self._text(values.get(column))
                    if column in ("url", "error", "title", "tags")
                    else values.get(column)
                    for column in DELIVERY_COLUMNS
                ]
            )
        return rows

    def deliveries(
        self, run_id: str | None = None, runbook: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Deliveries of one run (in the order they were made) or of a runbook (newest first)."""
        if run_id is not None:
            sql = "SELECT * FROM deliveries WHERE run_id = ? ORDER BY id"
            params: list[Any] = [run_id]
        else:
            clauses, params = where_clause(runbook=runbook)
            sql = f"SELECT * FROM deliveries {clauses} ORDER BY id DESC LIMIT ?"
            params.append(max(int(limit), 0))
        with self._lock:
            rows = self._backend.query(sql, params)
        return [delivery_dict(row) for row in rows]
