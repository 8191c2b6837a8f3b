"""The state store: every run and every step result, in one SQLite file or in a
PostgreSQL database that several hosts share.

Several processes write at once (the scheduler's hourly run, an operator's manual
run, a nested `runbook:` step, a second host), so every write is one transaction that
waits its turn behind the others: on SQLite the file is in WAL mode and writes take
the write lock up front with `BEGIN IMMEDIATE`; on PostgreSQL a write transaction
takes an advisory lock first (runner/state_backend.py). Everything stored goes
through the Masker first: secrets never reach the store.

Checks read the same store through the `state` connection (read-only). Tables:

runs (one row per run; inserted with outcome 'running' when it starts, so a run
whose process died stays visible)
    run_id TEXT PRIMARY KEY   sortable by time: 20261124T091500Z-ab12cd
    runbook, title, kind      the runbook's name, title, kind
    status                    OK | WARNING | CRITICAL | UNKNOWN; NULL while running
    outcome                   running | completed | aborted | skipped | refused | invalid
    mode                      run | dry-run | rehearse
    trigger                   manual | schedule | runbook | ...
    inputs_json               the inputs, masked, as JSON
    user, host, pid           who ran it, where, which process
    started, ended            ISO-8601 UTC text: 2026-11-24T09:15:00.123456Z
    duration                  seconds (REAL)
    error, path               why the run failed as a whole; the runbook file

step_results (one row per step; for_each items, groups and checks are children)
    run_id, seq               seq numbers a run's steps 1.. in execution-tree order
    parent_seq                the seq of the enclosing step; NULL for top-level steps
    step_id, title, action    action: sql | http | command | check | runbook | ...
    status, outcome, started, duration, error, hint
    values_json               the step's result values (at most 100 `rows`; when cut,
                              rows_truncated = 1 and rows_total = how many there were)
    evaluations_json          thresholds and asserts: name, status, text, value, ...
    attempts_json, attempts   every attempt (number, started, duration, outcome,
                              error) and how many there were
    item_json                 the for_each item a child ran for

runs_summary (a view: one row per runbook, real runs only, dry runs and rehearsals
left out)
    runbook, runs, last_run_id, last_started, last_ended, last_status, last_outcome,
    last_success            when the last run with status OK ended
    minutes_since_success   NULL when it never succeeded
    last_finished           when the last run that ran to its end (any status) ended;
                            skipped, refused and aborted runs do not count
    minutes_since_finished

    SELECT minutes_since_success AS minutes FROM runs_summary WHERE runbook = ?

alert_state (what people were told, per runbook and per step that routes its own
alerts; see runner/alerts.py)
    runbook, subject          subject '' is the runbook as a whole, else a step id
    status                    the status of the last real run
    announced                 the severity last announced; NULL: no open incident
    bad_since, critical_since first bad / CRITICAL run of the current streak
    opened, last_sent         when the incident was announced, and last told again
    escalated                 1 once the incident was escalated
    streak, recent_json       bad runs in a row; the last statuses (for "N of M")
    last_run_id, updated      the run that last changed the row, and when
    failing_json              the failing steps the last message named (JSON list);
                              NULL in rows kept before migration 3: not known

deliveries (every notification sent or failed: alerts, notify steps, notify-test)
    id, run_id, runbook       run_id NULL for `runbook notify-test`
    subject, kind             kind: new | worse | better | spread | repeat |
                              escalation | recovered | retried | message | test | claim
    status, tags, title       the severity announced, the tags it went to, its title
    url                       the service URL, masked (no token or password)
    ok, error, attempts       1 when the service accepted it; why not; tries made
    at, duration              when it was sent (UTC text), seconds it took

schema_version (version INTEGER PRIMARY KEY, applied TEXT): the migrations applied.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from runner.base.clock import utc_text
from runner.base.errors import ConfigError, InputError
from runner.base.masking import MASK, Masker, is_credential_key
from runner.history.backends import Backend, Row, open_backend
from runner.language.config import ConnectionSpec
from runner.language.results import RunResult, StepResult

if TYPE_CHECKING:
    from runner.history.locks import AdvisoryRunLock
    from runner.language.config import Config

#: Rows of a SQL result kept in history; the rest are counted, not stored.
MAX_STORED_ROWS = 100
#: Longer texts (an HTTP body, a command's output) are cut to this many characters.
MAX_STORED_TEXT = 50_000
#: Seconds a writer waits for another process's write before giving up.
BUSY_TIMEOUT = 30.0
_MAX_DEPTH = 32
T = TypeVar("T")

# Each migration is applied in one transaction; append, never edit a released one.
# The DDL is formatted with the backend's words ({text}, {real}, ...): SQLite gets the
# same schema it always had, PostgreSQL its own types and time arithmetic.
_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (  # 1: runs, their step results, and a summary for "last success" checks
        """
        CREATE TABLE runs (
            run_id      {text} PRIMARY KEY,
            runbook     {text} NOT NULL,
            title       {text},
            kind        {text},
            status      {text},
            outcome     {text} NOT NULL,
            mode        {text} NOT NULL DEFAULT 'run',
            trigger     {text},
            inputs_json {text},
            "user"      {text},
            host        {text},
            pid         INTEGER,
            started     {text} NOT NULL,
            ended       {text},
            duration    {real},
            error       {text},
            path        {text}
        )
        """,
        "CREATE INDEX idx_runs_runbook_started ON runs (runbook, started)",
        "CREATE INDEX idx_runs_started ON runs (started)",
        """
        CREATE TABLE step_results (
            run_id           {text} NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
            seq              INTEGER NOT NULL,
            parent_seq       INTEGER,
            step_id          {text} NOT NULL,
            title            {text},
            action           {text},
            status           {text},
            outcome          {text},
            started          {text},
            duration         {real},
            values_json      {text},
            evaluations_json {text},
            attempts_json    {text},
            attempts         INTEGER NOT NULL DEFAULT 0,
            error            {text},
            hint             {text},
            item_json        {text},
            PRIMARY KEY (run_id, seq)
        )
        """,
        """
        CREATE VIEW runs_summary AS
        WITH real_runs AS (SELECT * FROM runs WHERE mode = 'run'),
        latest AS (
            SELECT runbook, COUNT(*) AS runs, MAX(started) AS started
            FROM real_runs GROUP BY runbook
        ),
        success AS (
            SELECT runbook, MAX(ended) AS ended FROM real_runs
            WHERE status = 'OK' AND outcome = 'completed' GROUP BY runbook
        ),
        finished AS (
            SELECT runbook, MAX(ended) AS ended FROM real_runs
            WHERE outcome = 'completed' GROUP BY runbook
        )
        SELECT
            latest.runbook AS runbook,
            latest.runs AS runs,
            last.run_id AS last_run_id,
            last.started AS last_started,
            last.ended AS last_ended,
            last.status AS last_status,
            last.outcome AS last_outcome,
            success.ended AS last_success,
            {minutes_since_success} AS minutes_since_success,
            finished.ended AS last_finished,
            {minutes_since_finished} AS minutes_since_finished
        FROM latest
        JOIN real_runs AS last ON last.runbook = latest.runbook AND last.started = latest.started
        LEFT JOIN success ON success.runbook = latest.runbook
        LEFT JOIN finished ON finished.runbook = latest.runbook
        """,
    ),
    (  # 2: alert state per runbook and per alerting step, and every notification delivery
        """
        CREATE TABLE alert_state (
            runbook        {text} NOT NULL,
            subject        {text} NOT NULL,
            status         {text} NOT NULL,
            announced      {text},
            bad_since      {text},
            critical_since {text},
            opened         {text},
            last_sent      {text},
            escalated      INTEGER NOT NULL DEFAULT 0,
            streak         INTEGER NOT NULL DEFAULT 0,
            recent_json    {text},
            last_run_id    {text},
            updated        {text} NOT NULL,
            PRIMARY KEY (runbook, subject)
        )
        """,
        """
        CREATE TABLE deliveries (
            id        {serial_key},
            run_id    {text},
            runbook   {text},
            subject   {text},
            kind      {text} NOT NULL,
            status    {text},
            tags      {text},
            url       {text},
            ok        INTEGER NOT NULL,
            error     {text},
            attempts  INTEGER NOT NULL DEFAULT 0,
            title     {text},
            at        {text} NOT NULL,
            duration  {real}
        )
        """,
        "CREATE INDEX idx_deliveries_run ON deliveries (run_id)",
        "CREATE INDEX idx_deliveries_runbook_at ON deliveries (runbook, at)",
    ),
    (  # 3: the failing steps people were told about, so a newly failing one is news
        "ALTER TABLE alert_state ADD COLUMN failing_json {text}",
    ),
)

#: The schema version this code writes; a newer store is refused.
SCHEMA_VERSION = len(_MIGRATIONS)

_RUN_COLUMNS = (
    "run_id", "runbook", "title", "kind", "status", "outcome", "mode", "trigger",
    "inputs_json", "user", "host", "pid", "started", "ended", "duration", "error", "path",
)  # fmt: skip
_STEP_COLUMNS = (
    "run_id", "seq", "parent_seq", "step_id", "title", "action", "status", "outcome",
    "started", "duration", "values_json", "evaluations_json", "attempts_json", "attempts",
    "error", "hint", "item_json",
)  # fmt: skip
_ALERT_COLUMNS = (
    "runbook", "subject", "status", "announced", "bad_since", "critical_since", "opened",
    "last_sent", "escalated", "streak", "recent_json", "last_run_id", "updated",
    "failing_json",
)  # fmt: skip
_DELIVERY_COLUMNS = (
    "run_id", "runbook", "subject", "kind", "status", "tags", "url", "ok", "error",
    "attempts", "title", "at", "duration",
)  # fmt: skip
_EXIT_CODES = {"OK": 0, "SKIPPED": 0, "WARNING": 1, "CRITICAL": 2, "UNKNOWN": 3}


def _columns(names: tuple[str, ...]) -> str:
    """A column list; "user" is reserved in PostgreSQL (and harmless quoted in SQLite)."""
    return ", ".join(f'"{name}"' if name == "user" else name for name in names)


def new_run_id() -> str:
    """A run id that sorts by start time and is unique across processes and hosts.

    20261124T091500Z-3f9a0c1b2d4e: 48 random bits after the second, because cron starts
    many runs in the same second on many hosts sharing one history, and two runs with
    one id would overwrite each other's record (24 bits collided in 1 of ~130 batches
    of 500). Users type a prefix, so the length costs nothing.
    """
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(6)}"


def open_store(config: Config, masker: Masker | None = None) -> StateStore:
    """The state store runner.yaml names: its SQLite file, or its PostgreSQL database."""
    return StateStore(config.state_location, masker)


class StateStore:
    """Run history in SQLite or PostgreSQL, safe to share between processes and hosts.

    `location` is a SQLite file path, or the ConnectionSpec of a PostgreSQL database
    (`state: {odbc: ...}` in runner.yaml, see `Config.state_location`).
    """

    def __init__(
        self,
        location: Path | str | ConnectionSpec,
        masker: Masker | None = None,
        *,
        busy_timeout: float = BUSY_TIMEOUT,
    ) -> None:
        self.path = None if isinstance(location, ConnectionSpec) else Path(location)
        # One connection per store; engine threads (for_each concurrency) share it.
        self._lock = threading.RLock()
        self._backend: Backend = open_backend(location, busy_timeout)
        self.masker = masker if masker is not None else Masker()
        try:
            self._migrate()
        except ConfigError:
            self._backend.close()
            raise
        except sqlite3.DatabaseError as exc:  # not a database, or a damaged one
            self._backend.close()
            raise ConfigError(
                f"{self.display}: cannot use the state store: {self._masked(exc)} "
                "(point `state:` in runner.yaml at another file, or move this one away)"
            ) from exc
        except BaseException:
            self._backend.close()
            raise

    @property
    def masker(self) -> Masker:
        return self._masker

    @masker.setter
    def masker(self, masker: Masker) -> None:
        # The engine hands its own masker in; the values of ${VAR} in the store's
        # connection string stay masked whichever masker is in charge.
        for value in self._backend.secrets:
            masker.add(value)
        self._masker = masker

    @property
    def display(self) -> str:
        """Where the store is, for messages: the file, or the connection string masked."""
        return self._backend.display

    @property
    def dialect(self) -> str:
        return self._backend.dialect

    # -- lifecycle ---------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._backend.close()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def shared_lock(
        self, runbook: str, mode: str, *, run_id: str | None = None, timeout: float | None = None
    ) -> AdvisoryRunLock | None:
        """The lock that keeps a runbook to one run across hosts, or None when the local
        file lock is enough (a SQLite store is one host's)."""
        from runner.history.backends import PostgresBackend

        if not isinstance(self._backend, PostgresBackend) or mode == "allow":
            return None
        from runner.history.locks import AdvisoryRunLock

        return AdvisoryRunLock(
            self._backend.connect_session, runbook, mode, timeout=timeout, run_id=run_id
        )

    # -- writing -----------------------------------------------------------------------

    def start_run(self, run: RunResult) -> None:
        """Record a run as 'running' before its first step, so a crash stays visible."""
        row = self._run_row(run, outcome="running", status=None)
        placeholders = ", ".join("?" for _ in _RUN_COLUMNS)
        with self._write() as db:
            db.execute(
                f"INSERT INTO runs ({_columns(_RUN_COLUMNS)}) VALUES ({placeholders})",
                [row[column] for column in _RUN_COLUMNS],
            )

    def finish_run(self, run: RunResult) -> None:
        """Record how a run ended and all its step results, in one transaction.

        Works without `start_run` too (a run refused before it started), and a second
        call replaces the first one's step results.
        """
        row = self._run_row(run, outcome=run.outcome, status=run.status.value)
        steps = list(self._step_rows(run))
        placeholders = ", ".join("?" for _ in _RUN_COLUMNS)
        updates = ", ".join(
            f"{name} = excluded.{name}"
            for name in (_columns((column,)) for column in _RUN_COLUMNS[1:])
        )
        with self._write() as db:
            db.execute(
                f"INSERT INTO runs ({_columns(_RUN_COLUMNS)}) VALUES ({placeholders}) "
                f"ON CONFLICT (run_id) DO UPDATE SET {updates}",
                [row[column] for column in _RUN_COLUMNS],
            )
            db.execute("DELETE FROM step_results WHERE run_id = ?", (run.run_id,))
            db.executemany(
                f"INSERT INTO step_results ({', '.join(_STEP_COLUMNS)}) "
                f"VALUES ({', '.join('?' for _ in _STEP_COLUMNS)})",
                [[step[column] for column in _STEP_COLUMNS] for step in steps],
            )

    # -- alerts and deliveries -----------------------------------------------------------

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
            current = {row["subject"]: _alert_dict(row) for row in rows}
            updated, answer = change(current)
            now = utc_text(datetime.now(UTC))
            db.executemany(
                f"INSERT INTO alert_state ({', '.join(_ALERT_COLUMNS)}) "
                f"VALUES ({', '.join('?' for _ in _ALERT_COLUMNS)}) "
                "ON CONFLICT (runbook, subject) DO UPDATE SET "
                + ", ".join(f"{c} = excluded.{c}" for c in _ALERT_COLUMNS[2:]),
                [_alert_row(runbook, subject, row, now) for subject, row in updated.items()],
            )
        return answer

    def alert_states(self, runbook: str | None = None) -> list[dict[str, Any]]:
        """The alert state rows, of one runbook or all; open incidents have `announced` set."""
        clauses, params = _filters(runbook=runbook)
        with self._lock:
            rows = self._backend.query(
                f"SELECT * FROM alert_state {clauses} ORDER BY runbook, subject", params
            )
        return [{"runbook": row["runbook"], **_alert_dict(row)} for row in rows]

    def send_again(
        self,
        runbook: str,
        subject: str,
        run_id: str,
        *,
        message: bool,
        escalation: bool,
        failing: Sequence[str] | None = None,
    ) -> None:
        """Undo a claim whose message reached nobody, so the next run sends it again.

        `failing`, when given, replaces the failing steps people were told about (what
        they knew before the lost message). Only while the row is still the one
        `run_id` wrote: a later run's claim is never undone because an earlier run's
        message failed.
        """
        where = "WHERE runbook = ? AND subject = ? AND last_run_id = ?"
        with self._write() as db:
            db.execute(
                "UPDATE alert_state SET "
                "last_sent = CASE WHEN ? = 1 THEN NULL ELSE last_sent END, "
                f"escalated = CASE WHEN ? = 1 THEN 0 ELSE escalated END {where}",
                (int(message), int(escalation), runbook, subject, run_id),
            )
            if failing is not None:
                db.execute(
                    f"UPDATE alert_state SET failing_json = ? {where}",
                    (json.dumps(list(failing)), runbook, subject, run_id),
                )

    def record_deliveries(self, deliveries: list[Mapping[str, Any]]) -> None:
        """Store deliveries (see the `deliveries` table), masked."""
        if not deliveries:
            return
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
                    for column in _DELIVERY_COLUMNS
                ]
            )
        with self._write() as db:
            db.executemany(
                f"INSERT INTO deliveries ({', '.join(_DELIVERY_COLUMNS)}) "
                f"VALUES ({', '.join('?' for _ in _DELIVERY_COLUMNS)})",
                rows,
            )

    def deliveries(
        self, run_id: str | None = None, runbook: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Deliveries of one run (in the order they were made) or of a runbook (newest first)."""
        if run_id is not None:
            sql, params = "SELECT * FROM deliveries WHERE run_id = ? ORDER BY id", [run_id]
        else:
            clauses, params = _filters(runbook=runbook)
            sql = f"SELECT * FROM deliveries {clauses} ORDER BY id DESC LIMIT ?"
            params.append(max(int(limit), 0))
        with self._lock:
            rows = self._backend.query(sql, params)
        return [_delivery_dict(row) for row in rows]

    # -- reading -----------------------------------------------------------------------

    def history(
        self, runbook: str | None = None, limit: int = 20, status: str | None = None
    ) -> list[dict[str, Any]]:
        """Runs newest first (without their steps), optionally of one runbook or status."""
        clauses, params = _filters(runbook=runbook, status=status)
        sql = f"SELECT * FROM runs {clauses} ORDER BY started DESC, run_id DESC LIMIT ?"
        with self._lock:
            rows = self._backend.query(sql, [*params, max(int(limit), 0)])
        return [_run_dict(row) for row in rows]

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
        clauses, params = _filters(
            runbook=runbook, status=status, mode=mode, include_running=include_running
        )
        sql = f"SELECT run_id FROM runs {clauses} ORDER BY started DESC, run_id DESC LIMIT 1"
        with self._lock:
            rows = self._backend.query(sql, params)
        return self.get_run(rows[0]["run_id"]) if rows else None

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
                pattern = _escape_like(run_id) + "%"
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
        run = _run_dict(row)
        run["steps"] = _step_tree(steps)
        run["notifications"] = [_delivery_dict(item) for item in sent]
        return run

    # -- internals ---------------------------------------------------------------------

    def _migrate(self) -> None:
        with self._lock:
            current = _current_version(self._backend)
        self._refuse_newer(current)
        words = self._backend.words()
        while current < SCHEMA_VERSION:
            with self._write() as db:
                db.execute(
                    "CREATE TABLE IF NOT EXISTS schema_version "
                    "(version INTEGER PRIMARY KEY, applied TEXT NOT NULL)"
                )
                # Read again under the write lock: another process may have migrated.
                current = _current_version(db)
                self._refuse_newer(current)
                if current >= SCHEMA_VERSION:
                    break
                for statement in _MIGRATIONS[current]:
                    db.execute(statement.format(**words))
                current += 1
                db.execute(
                    "INSERT INTO schema_version (version, applied) VALUES (?, ?)",
                    (current, utc_text(datetime.now(UTC))),
                )

    def _refuse_newer(self, version: int) -> None:
        if version > SCHEMA_VERSION:
            raise ConfigError(
                f"{self.display}: the state store has schema version {version}, newer than "
                f"this runbook release understands ({SCHEMA_VERSION}); upgrade "
                "runbook-runner, or point `state:` in runner.yaml at another store"
            )

    @contextmanager
    def _write(self) -> Iterator[Backend]:
        """One write transaction, waiting its turn behind every other writer."""
        with self._lock, self._backend.write():
            yield self._backend

    def _masked(self, exc: BaseException) -> str:
        return self.masker.mask_text(str(exc))

    def _text(self, value: Any) -> str | None:
        if value is None:
            return None
        return _cut(self.masker.mask_text(str(value)))

    def _json(self, value: Any) -> str:
        return json.dumps(_storable(value, self.masker), ensure_ascii=False, sort_keys=False)

    def _run_row(self, run: RunResult, *, outcome: str, status: str | None) -> dict[str, Any]:
        started = run.started or datetime.now(UTC)
        return {
            "run_id": run.run_id,
            "runbook": run.runbook,
            "title": self._text(run.title),
            "kind": run.kind,
            "status": status,
            "outcome": outcome,
            "mode": run.mode,
            "trigger": run.trigger,
            "inputs_json": self._json(run.inputs),
            "user": self._text(run.user),
            "host": run.host,
            "pid": os.getpid(),
            "started": utc_text(started),
            "ended": utc_text(run.ended) if status is not None else None,
            "duration": run.duration if status is not None else None,
            "error": self._text(run.error),
            "path": self._text(run.path),
        }

    def _step_rows(self, run: RunResult) -> Iterator[dict[str, Any]]:
        seq = 0

        def walk(steps: list[StepResult], parent: int | None) -> Iterator[dict[str, Any]]:
            nonlocal seq
            for step in steps:
                seq += 1
                mine = seq
                yield {
                    "run_id": run.run_id,
                    "seq": mine,
                    "parent_seq": parent,
                    "step_id": step.id,
                    "title": self._text(step.title),
                    "action": step.action,
                    "status": step.status.value,
                    "outcome": step.outcome,
                    "started": utc_text(step.started),
                    "duration": step.duration,
                    "values_json": self._json(_limit_rows(step.values)),
                    "evaluations_json": self._json(step.evaluations),
                    "attempts_json": self._json(step.attempts),
                    "attempts": len(step.attempts),
                    "error": self._text(step.error),
                    "hint": self._text(step.hint),
                    "item_json": None if step.item is None else self._json(step.item),
                }
                yield from walk(step.children, mine)

        yield from walk(run.steps, None)


def _current_version(db: Backend) -> int:
    if not db.has_table("schema_version"):
        return 0
    return db.query("SELECT COALESCE(MAX(version), 0) AS version FROM schema_version")[0]["version"]


def _filters(
    *,
    runbook: str | None = None,
    status: str | None = None,
    mode: str | None = None,
    include_running: bool = True,
) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if runbook is not None:
        clauses.append("runbook = ?")
        params.append(runbook)
    if status is not None:
        clauses.append("status = ?")
        params.append(str(status).upper())
    if mode is not None:
        clauses.append("mode = ?")
        params.append(mode)
    if not include_running:
        clauses.append("outcome <> 'running'")
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", params


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _limit_rows(values: Mapping[str, Any]) -> Mapping[str, Any]:
    rows = values.get("rows") if isinstance(values, Mapping) else None
    if not isinstance(rows, (list, tuple)) or len(rows) <= MAX_STORED_ROWS:
        return values
    return {
        **values,
        "rows": list(rows[:MAX_STORED_ROWS]),
        "rows_truncated": True,
        "rows_total": len(rows),
    }


def _cut(text: str) -> str:
    if len(text) <= MAX_STORED_TEXT:
        return text
    return f"{text[:MAX_STORED_TEXT]}... ({len(text) - MAX_STORED_TEXT} more characters)"


def _storable(value: Any, masker: Masker, depth: int = 0) -> Any:
    """JSON-safe, masked copy of a value; never fails on a type it does not know."""
    if depth > _MAX_DEPTH:
        return "<nested too deeply>"
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, Enum):
        return _storable(value.value, masker, depth + 1)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        return _cut(masker.mask_text(value))
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            return str(value)
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime) and value.tzinfo is not None:
        return utc_text(value)
    if isinstance(value, (datetime, date, time)):  # naive: the database's own clock
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _cut(bytes(value).hex())
    if isinstance(value, Mapping):
        return {
            _storable_key(key, masker): (
                MASK if item and is_credential_key(key) else _storable(item, masker, depth + 1)
            )
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_storable(item, masker, depth + 1) for item in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return _storable(fields, masker, depth + 1)
    try:
        text = str(value)
    except Exception:  # an object whose __str__ fails must not lose the run's record
        text = f"<{type(value).__name__}>"
    return _cut(masker.mask_text(text))


def _storable_key(key: Any, masker: Masker) -> str:
    if isinstance(key, str):
        return masker.mask_text(key)
    stored = _storable(key, masker, _MAX_DEPTH)
    return stored if isinstance(stored, str) else json.dumps(stored)


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def _alert_dict(row: Row) -> dict[str, Any]:
    data = {key: row[key] for key in _ALERT_COLUMNS[1:] if not key.endswith("_json")}
    data["escalated"] = bool(row["escalated"])
    data["recent"] = _loads(row["recent_json"]) or []
    data["failing"] = _loads(row["failing_json"])  # None: not known (an older row)
    return data


def _alert_row(runbook: str, subject: str, row: Mapping[str, Any], now: str | None) -> list[Any]:
    failing = row.get("failing")
    values = {
        **row,
        "runbook": runbook,
        "subject": subject,
        "escalated": 1 if row.get("escalated") else 0,
        "recent_json": json.dumps(list(row.get("recent") or [])),
        "updated": now,
        "failing_json": None if failing is None else json.dumps(list(failing)),
    }
    return [values.get(column) for column in _ALERT_COLUMNS]


def _delivery_dict(row: Row) -> dict[str, Any]:
    data = {key: row[key] for key in ("id", *_DELIVERY_COLUMNS)}
    data["ok"] = bool(row["ok"])
    data["tags"] = [tag for tag in (row["tags"] or "").split(",") if tag]
    return data


def _run_dict(row: Row) -> dict[str, Any]:
    data = {key: row[key] for key in _RUN_COLUMNS if key != "inputs_json"}
    data["inputs"] = _loads(row["inputs_json"]) or {}
    data["exit_code"] = _EXIT_CODES.get(row["status"]) if row["status"] else None
    return data


def _step_tree(rows: list[Row]) -> list[dict[str, Any]]:
    """Step rows (ordered by seq) as nested dicts shaped like StepResult.as_dict()."""
    by_seq: dict[int, dict[str, Any]] = {}
    top: list[dict[str, Any]] = []
    for row in rows:
        step = {
            "seq": row["seq"],
            "parent_seq": row["parent_seq"],
            "id": row["step_id"],
            "title": row["title"],
            "action": row["action"],
            "status": row["status"],
            "outcome": row["outcome"],
            "started": row["started"],
            "duration": row["duration"],
            "values": _loads(row["values_json"]) or {},
            "evaluations": _loads(row["evaluations_json"]) or [],
            "attempts": _loads(row["attempts_json"]) or [],
            "error": row["error"],
            "hint": row["hint"],
            "item": _loads(row["item_json"]),
            "children": [],
        }
        by_seq[row["seq"]] = step
        parent = by_seq.get(row["parent_seq"]) if row["parent_seq"] is not None else None
        (parent["children"] if parent is not None else top).append(step)
    return top
