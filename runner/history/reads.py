"""Reading runs back from the state store (a base of StateStore): the history, one run
with its steps, the newest runs of every runbook (`status`, late detection) and the
newest slots (`runbook scheduler`'s catch-up), the last statuses of many runbooks (the
dashboard's strips), the last runs of one (its runbook page), a page of every run (its
history page), recorded step values (trends), and what `runbook metrics` counts: runs by
status with the last success, the last runs' evaluations."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, NamedTuple

from runner.base.errors import InputError
from runner.history.backends import Backend
from runner.history.records import (
    LAST_RUNS_SQL,
    delivery_dict,
    escape_like,
    run_dict,
    step_tree,
    where_clause,
)

#: What StateStore.last_runs gives of each runbook's newest finished run: what `status`
#: shows of it.
SHOWN_COLUMNS = ("run_id", "status", "started", "duration", "outcome")


#: StateStore.recent_runs: the last finished real runs of each runbook named, in one
#: query. Per runbook, its runs are found as `last_run` finds the newest (the index
#: idx_runs_newest, newest first, LIMIT): reading a runbook's last 30 runs costs the same
#: with 30 or 100,000 runs of it, where a window (ROW_NUMBER() OVER (PARTITION BY
#: runbook ...) <= 30) would number every run of the store first.
RECENT_RUNS_SQL = """
    WITH books (runbook) AS (VALUES {books})
    SELECT runs.runbook, runs.run_id, runs.started, runs.status
    FROM books JOIN runs ON runs.run_id IN (
        SELECT newest.run_id FROM runs AS newest
        WHERE newest.runbook = books.runbook AND newest.mode = 'run'
            AND newest.status IS NOT NULL
        ORDER BY newest.started DESC, newest.run_id DESC LIMIT {limit}
    )
    ORDER BY runs.runbook, runs.started, runs.run_id
"""


class LastRuns(NamedTuple):
    """StateStore.last_runs: per runbook name, its newest finished real run's
    SHOWN_COLUMNS (a runbook whose real runs are all still going is not in it), and (when
    its newest real run started, whether that run is still going)."""

    finished: dict[str, dict[str, Any]]
    newest: dict[str, tuple[datetime, bool]]


class RunCounts(NamedTuple):
    """StateStore.run_counts: per runbook name, {status: finished real runs}, and when
    its last success ended (absent: it never completed OK)."""

    by_status: dict[str, dict[str, int]]
    last_success: dict[str, datetime]


class Reads:
    """Reading runs back (a base of StateStore)."""

    _backend: Backend
    _lock: AbstractContextManager[Any]

    def history(
        self, runbook: str | None = None, limit: int = 20, status: str | None = None
    ) -> list[dict[str, Any]]:
        """Runs newest first (without their steps), optionally of one runbook or status."""
        clauses, params = where_clause(runbook=runbook, status=status)
        sql = f"SELECT * FROM runs {clauses} ORDER BY started DESC, run_id DESC LIMIT ?"
        with self._lock:
            rows = self._backend.query(sql, [*params, max(int(limit), 0)])
        return [run_dict(row) for row in rows]

    def history_page(
        self,
        *,
        runbook: str | None = None,
        status: str | None = None,
        trigger: str | None = None,
        started_from: str | None = None,
        started_to: str | None = None,
        after: tuple[str, str] | None = None,
        limit: int = 50,
    ) -> list[dict[str, Any]]:
        """One page of every run (real, dry and rehearsed, finished or going; without
        their steps), newest first, in one query: those of `runbook`, with `status`
        (upper case), `trigger`, started at or after `started_from` and before
        `started_to` (UTC text as stored), and after the row `after` ((started, run_id)
        of the last run of the page before: keyset pagination, so a page deep in the
        history costs what the first does). Pages are read in the order of
        idx_runs_started_id (started, run_id), the cursor a range of it, with no sort;
        SQLite reads one runbook's pages through idx_runs_runbook_started instead, sorting
        that runbook's runs by id within a start time."""
        clauses, params = where_clause(runbook=runbook, status=status)
        conditions = [clauses.removeprefix("WHERE ")] if clauses else []
        if trigger is not None:
            conditions.append("trigger = ?")
            params.append(trigger)
        if started_from is not None:
            conditions.append("started >= ?")
            params.append(started_from)
        if started_to is not None:
            conditions.append("started < ?")
            params.append(started_to)
        if after is not None:
            conditions.append("(started, run_id) < (?, ?)")  # a row value: one range
            params.extend(after)
        where = ("WHERE " + " AND ".join(conditions)) if conditions else ""
        sql = f"SELECT * FROM runs {where} ORDER BY started DESC, run_id DESC LIMIT ?"
        with self._lock:
            rows = self._backend.query(sql, [*params, max(int(limit), 0)])
        return [run_dict(row) for row in rows]

    def step_values(
        self, run_ids: Sequence[str], step_ids: Sequence[str]
    ) -> dict[str, dict[str, dict[str, Any]]]:
        """The recorded values of the steps `step_ids` in the runs `run_ids`, as
        {run_id: {step_id: values}}; a step id used twice in a run gives its first.
        A threshold's value is among them under the threshold's name (when the step's
        own values have no such name): one computed by `value:`, such as an HTTP
        answer's `json.metrics.avg_response_ms`, is recorded only with its evaluation."""
        if not run_ids or not step_ids:
            return {}
        runs, steps = ", ".join("?" * len(run_ids)), ", ".join("?" * len(step_ids))
        sql = (
            "SELECT run_id, step_id, values_json, evaluations_json FROM step_results "
            f"WHERE run_id IN ({runs}) AND step_id IN ({steps}) ORDER BY run_id, seq"
        )
        with self._lock:
            rows = self._backend.query(sql, [*run_ids, *step_ids])
        found: dict[str, dict[str, dict[str, Any]]] = {}
        for row in rows:
            mine = found.setdefault(row["run_id"], {})
            if row["step_id"] not in mine:
                values = json.loads(row["values_json"] or "{}")
                for evaluation in json.loads(row["evaluations_json"] or "[]"):
                    name = evaluation.get("name")
                    if evaluation.get("kind") == "threshold" and name not in values:
                        values[name] = evaluation.get("value")
                mine[row["step_id"]] = values
        return found

    def last_run(
        self,
        runbook: str,
        status: str | None = None,
        *,
        mode: str | None = "run",
        include_running: bool = False,
    ) -> dict[str, Any] | None:
        """The newest finished real run of `runbook` (with its steps), or None.

        Dry runs and rehearsals and runs still going are left out unless asked for:
        "how did this runbook last end?" is what alert routing and `status` need.
        """
        clauses, params = where_clause(
            runbook=runbook, status=status, mode=mode, include_running=include_running
        )
        sql = f"SELECT run_id FROM runs {clauses} ORDER BY started DESC, run_id DESC LIMIT 1"
        with self._lock:
            rows = self._backend.query(sql, params)
        return self.get_run(rows[0]["run_id"]) if rows else None

    def last_runs(self) -> LastRuns:
        """Every runbook's newest runs in the store, in one query (LAST_RUNS_SQL): of its
        newest finished real run, the run that `last_run(name)` answers, what `status`
        shows (SHOWN_COLUMNS: 5 columns of 19 read and made into Python objects, for
        1,000 runbooks), and when its newest real run started and whether it is still
        going, whoever started it (late detection)."""
        with self._lock:
            rows = self._backend.query(LAST_RUNS_SQL)
        return LastRuns(
            finished={
                row["book"]: {column: row[column] for column in SHOWN_COLUMNS}
                for row in rows
                if row["run_id"] is not None
            },
            newest={
                row["book"]: (
                    datetime.fromisoformat(row["newest_started"]),
                    row["newest_outcome"] == "running",
                )
                for row in rows
            },
        )

    def newest_starts(self) -> dict[str, tuple[datetime, bool]]:
        """{runbook: (when its newest real run started, whether that run is still going)}
        for every runbook in the store (`last_runs().newest`): what late detection
        compares with the due slot."""
        return self.last_runs().newest

    def previous_run_id(self, run: Mapping[str, Any]) -> str | None:
        """The id of the run of `run`'s runbook and mode that `runbook history` lists just
        after it (the one before it: started, then run id), or None for its first run."""
        sql = (
            "SELECT run_id FROM runs WHERE runbook = ? AND mode = ? "
            "AND (started < ? OR (started = ? AND run_id < ?)) "
            "ORDER BY started DESC, run_id DESC LIMIT 1"
        )
        params = [run["runbook"], run["mode"], run["started"], run["started"], run["run_id"]]
        with self._lock:
            rows = self._backend.query(sql, params)
        return str(rows[0]["run_id"]) if rows else None

    def recent_runs(self, runbooks: Sequence[str], limit: int) -> dict[str, list[dict[str, Any]]]:
        """{runbook: its last `limit` finished real runs, oldest first} for each of
        `runbooks` that has any, each run as {run_id, started, status} (started as
        stored): the strips of the dashboard's overview, in one query per 500 runbooks
        (RECENT_RUNS_SQL) instead of one per runbook."""
        found: dict[str, list[dict[str, Any]]] = {}
        names = list(dict.fromkeys(runbooks))
        for start in range(0, len(names), 500):  # bound values per statement
            chunk = names[start : start + 500]
            sql = RECENT_RUNS_SQL.format(
                books=", ".join(["(?)"] * len(chunk)), limit=max(int(limit), 0)
            )
            with self._lock:
                rows = self._backend.query(sql, chunk)
            for row in rows:
                found.setdefault(row["runbook"], []).append(
                    {"run_id": row["run_id"], "started": row["started"], "status": row["status"]}
                )
        return found

    def finished_runs(self, runbook: str, limit: int) -> list[dict[str, Any]]:
        """The last `limit` finished real runs of `runbook`, oldest first, each as
        {run_id, started, status, duration} (started as stored), in one query that reads
        the newest through idx_runs_newest as `last_run` does: the runs the dashboard's
        runbook page charts."""
        sql = (
            "SELECT run_id, started, status, duration FROM runs "
            "WHERE runbook = ? AND mode = 'run' AND status IS NOT NULL "
            "ORDER BY started DESC, run_id DESC LIMIT ?"
        )
        with self._lock:
            rows = self._backend.query(sql, [runbook, max(int(limit), 0)])
        return [
            {column: row[column] for column in ("run_id", "started", "status", "duration")}
            for row in reversed(rows)
        ]

    def last_slots(self) -> dict[str, datetime]:
        """{runbook: the newest schedule slot a run was recorded for} (trigger schedule
        or catchup, whatever the run's outcome): where `runbook scheduler` looks for the
        slots it missed while it was down."""
        sql = "SELECT runbook, MAX(slot) AS slot FROM runs WHERE slot IS NOT NULL GROUP BY runbook"
        with self._lock:
            rows = self._backend.query(sql)
        return {row["runbook"]: datetime.fromisoformat(row["slot"]) for row in rows}

    def run_counts(self) -> RunCounts:
        """For every runbook in the store, its finished real runs by status and when the
        newest that ran to its end with status OK ended (`last_success` of the
        runs_summary view), in one scan of the runs (`runbook metrics`)."""
        sql = (
            "SELECT runbook, status, COUNT(*) AS runs, MAX(CASE WHEN status = 'OK' "
            "AND outcome = 'completed' THEN ended END) AS succeeded FROM runs "
            "WHERE mode = 'run' AND status IS NOT NULL GROUP BY runbook, status"
        )
        with self._lock:
            rows = self._backend.query(sql)
        counts: dict[str, dict[str, int]] = {}
        successes: dict[str, datetime] = {}
        for row in rows:
            counts.setdefault(row["runbook"], {})[row["status"]] = int(row["runs"])
            if row["succeeded"]:
                successes[row["runbook"]] = datetime.fromisoformat(row["succeeded"])
        return RunCounts(counts, successes)

    def step_evaluations(self, run_ids: Sequence[str]) -> dict[str, list[tuple[str, Any]]]:
        """{run_id: [(step path, its evaluations), ...]} of the steps of `run_ids` in the
        order they ran: a nested step's path joins the ids down to it with dots
        (group.inner). The items of a for_each are left out, with everything under
        them: one series per item would have no bound."""
        found: dict[str, list[tuple[str, Any]]] = {}
        for start in range(0, len(run_ids), 500):  # bound values per statement
            chunk = list(run_ids[start : start + 500])
            marks = ", ".join("?" * len(chunk))
            # an item's JSON and evaluations are never read: whether it is one will do
            sql = (
                "SELECT run_id, seq, parent_seq, step_id, "
                "CASE WHEN item_json IS NULL THEN 0 ELSE 1 END AS is_item, "
                "CASE WHEN item_json IS NULL THEN evaluations_json END AS evaluations_json "
                f"FROM step_results WHERE run_id IN ({marks}) ORDER BY run_id, seq"
            )
            with self._lock:
                rows = self._backend.query(sql, chunk)
            paths: dict[tuple[str, int], str | None] = {}
            for row in rows:
                run_id, parent = row["run_id"], row["parent_seq"]
                above = paths.get((run_id, parent)) if parent is not None else ""
                if above is None or row["is_item"]:
                    paths[(run_id, row["seq"])] = None  # an item, or under one
                    continue
                path = f"{above}.{row['step_id']}" if above else row["step_id"]
                paths[(run_id, row["seq"])] = path
                evaluations = json.loads(row["evaluations_json"] or "[]")
                if evaluations:
                    found.setdefault(run_id, []).append((path, evaluations))
        return found

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        """One run with its steps (children nested); a unique prefix of the id will do."""
        if not run_id:
            return None
        db = self._backend
        with self._lock:
            found = db.query("SELECT * FROM runs WHERE run_id = ?", (run_id,))
            if found:
                row = found[0]
            else:
                pattern = escape_like(run_id) + "%"
                matches = db.query(
                    "SELECT * FROM runs WHERE run_id LIKE ? ESCAPE '\\' ORDER BY run_id LIMIT 6",
                    (pattern,),
                )
                if not matches:
                    return None
                if len(matches) > 1:
                    listed = ", ".join(match["run_id"] for match in matches[:5])
                    more = " ..." if len(matches) > 5 else ""
                    raise InputError(
                        f"run id {run_id!r} is ambiguous: it matches {listed}{more}; "
                        "give more characters"
                    )
                row = matches[0]
            steps = db.query(
                "SELECT * FROM step_results WHERE run_id = ? ORDER BY seq", (row["run_id"],)
            )
            sent = db.query(
                "SELECT * FROM deliveries WHERE run_id = ? ORDER BY id", (row["run_id"],)
            )
        run = run_dict(row)
        run["steps"] = step_tree(steps)
        run["notifications"] = [delivery_dict(item) for item in sent]
        return run
