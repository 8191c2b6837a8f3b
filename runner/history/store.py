"""The state store: every run and every step result, in one SQLite file or in a
PostgreSQL database that several hosts share.

Several processes write at once (the scheduler's hourly run, an operator's manual
run, a nested `runbook:` step, a second host), so every write is one transaction that
waits its turn behind the others: on SQLite the file is in WAL mode and writes take
the write lock up front with `BEGIN IMMEDIATE`; on PostgreSQL a write transaction
takes an advisory lock first (runner/history/backends.py). Everything stored goes
through the Masker first: secrets never reach the store.

Checks read the same store through the `state` connection (read-only). The tables
and their migrations: runner/history/migrations.py; rows to and from values:
runner/history/records.py; reading runs back: runner/history/reads.py; alert state and
deliveries: runner/history/notices.py.
"""

from __future__ import annotations

import itertools
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.base.clock import utc_text
from runner.base.errors import ConfigError
from runner.base.masking import Masker
from runner.history.backends import Backend, open_backend
from runner.history.claims import Claim, Claims
from runner.history.migrations import MIGRATIONS, SCHEMA_VERSION, current_version
from runner.history.notices import Notices
from runner.history.reads import Reads
from runner.history.reconcile import Reconcile, session_name
from runner.history.records import (
    DELIVERY_COLUMNS,
    RUN_COLUMNS,
    STEP_COLUMNS,
    column_list,
    cut,
    limit_rows,
    storable,
)
from runner.history.upkeep import Upkeep
from runner.language.config import ConnectionSpec
from runner.language.results import RunResult, StepResult

if TYPE_CHECKING:
    from runner.history.advisory import AdvisoryRunLock
    from runner.language.config import Config

#: Seconds a writer waits for another process's write before giving up.
BUSY_TIMEOUT = 30.0


def new_run_id() -> str:
    """A run id that sorts by start time and is unique across processes and hosts.

    20261124T091500Z-3f9a0c1b2d4e: 48 random bits after the second, because cron starts
    many runs in the same second on many hosts sharing one history, and two runs with
    one id would overwrite each other's record (24 bits collided in 1 of ~130 batches
    of 500). Users type a prefix, so the length costs nothing.
    """
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{os.urandom(6).hex()}"


def open_store(
    config: Config,
    masker: Masker | None = None,
    *,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> StateStore:
    """The state store runner.yaml names: its SQLite file, or its PostgreSQL database."""
    return StateStore(config.state_location, masker, clock=clock)


class StateStore(Upkeep, Reconcile, Notices, Claims, Reads):
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
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.path = None if isinstance(location, ConnectionSpec) else Path(location)
        self.clock = clock
        # One connection per store; engine threads (for_each concurrency) share it.
        self._lock = threading.RLock()
        self._backend: Backend = open_backend(location, busy_timeout)
        self.masker = masker if masker is not None else Masker()
        try:
            self._migrate()
            self._check_integrity()
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
        from runner.history.advisory import AdvisoryRunLock

        return AdvisoryRunLock(
            self._backend.connect_session, runbook, mode, timeout=timeout, run_id=run_id
        )

    # -- writing -----------------------------------------------------------------------

    def start_run(self, run: RunResult, claim: Claim | None = None) -> None:
        """Record a run as 'running' before its first step, so a crash stays visible.

        The run of a claimed schedule slot (`claim`, for `run.slot`) marks its claim
        started in the same transaction, or is refused, nothing written: ClaimLost when
        the claim is not `claim`'s any more (history/claims.py)."""
        row = self._run_row(run, outcome="running", status=None)
        self._backend.name_session(session_name(run.run_id))  # alive to other hosts
        placeholders = ", ".join("?" for _ in RUN_COLUMNS)
        with self._write() as db:
            if claim is not None and run.slot is not None:
                self.confirm_claim(db, run.runbook, run.slot, claim, run.started or self.clock())
            db.execute(
                f"INSERT INTO runs ({column_list(RUN_COLUMNS)}) VALUES ({placeholders})",
                [row[column] for column in RUN_COLUMNS],
            )

    def finish_run(self, run: RunResult) -> None:
        """Record how a run ended and all its step results, in one transaction.

        Works without `start_run` too (a run refused before it started), and a second
        call replaces the first one's step results.
        """
        with self._write() as db:
            self._finish(db, run)

    def record_finished(
        self,
        run: RunResult,
        deliveries: Sequence[Mapping[str, Any]],
        claim: Claim | None = None,
    ) -> bool:
        """Record how a run ended, its steps and its deliveries, in one transaction (at
        the end of a run, or from the spool, history/spool.py); False, and nothing
        written, when the run is already recorded as finished: a spooled run imported
        twice is not doubled. A run of a claimed slot recorded here first (skipped:
        it had no start) confirms its `claim` as start_run does."""
        with self._write() as db:
            found = db.query("SELECT outcome FROM runs WHERE run_id = ?", (run.run_id,))
            # A row left `running` (or marked `abandoned` since) is this run's start: the
            # spooled end completes it. A finished one is the record already in.
            if found and found[0]["outcome"] not in ("running", "abandoned"):
                return False
            if not found and claim is not None and run.slot is not None:
                self.confirm_claim(db, run.runbook, run.slot, claim, run.started or self.clock())
            self._finish(db, run)
            db.execute("DELETE FROM deliveries WHERE run_id = ?", (run.run_id,))
            db.executemany(
                f"INSERT INTO deliveries ({', '.join(DELIVERY_COLUMNS)}) "
                f"VALUES ({', '.join('?' for _ in DELIVERY_COLUMNS)})",
                self._delivery_rows(deliveries),
            )
        return True

    def _finish(self, db: Backend, run: RunResult) -> None:
        row = self._run_row(run, outcome=run.outcome, status=run.status.value)
        steps = list(self._step_rows(run))
        placeholders = ", ".join("?" for _ in RUN_COLUMNS)
        updates = ", ".join(
            f"{name} = excluded.{name}"
            for name in (column_list((column,)) for column in RUN_COLUMNS[1:])
        )
        db.execute(
            f"INSERT INTO runs ({column_list(RUN_COLUMNS)}) VALUES ({placeholders}) "
            f"ON CONFLICT (run_id) DO UPDATE SET {updates}",
            [row[column] for column in RUN_COLUMNS],
        )
        db.execute("DELETE FROM step_results WHERE run_id = ?", (run.run_id,))
        db.executemany(
            f"INSERT INTO step_results ({', '.join(STEP_COLUMNS)}) "
            f"VALUES ({', '.join('?' for _ in STEP_COLUMNS)})",
            [[step[column] for column in STEP_COLUMNS] for step in steps],
        )

    # -- internals ---------------------------------------------------------------------

    def _migrate(self) -> None:
        with self._lock:
            current = current_version(self._backend)
        self._refuse_newer(current)
        words = self._backend.words()
        while current < SCHEMA_VERSION:
            with self._write() as db:
                db.execute(
                    "CREATE TABLE IF NOT EXISTS schema_version "
                    "(version INTEGER PRIMARY KEY, applied TEXT NOT NULL)"
                )
                # Read again under the write lock: another process may have migrated.
                current = current_version(db)
                self._refuse_newer(current)
                if current >= SCHEMA_VERSION:
                    break
                for statement in MIGRATIONS[current]:
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
        return cut(self.masker.mask_text(str(value)))

    def _json(self, value: Any) -> str:
        return json.dumps(storable(value, self.masker), ensure_ascii=False, sort_keys=False)

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
            "seen": utc_text(run.ended if status is not None and run.ended else started),
            "slot": utc_text(run.slot),
        }

    def _step_rows(self, run: RunResult) -> Iterator[dict[str, Any]]:
        # A method rather than a recursive closure: a closure that calls itself is a
        # reference cycle, which kept the whole RunResult alive until a full collection.
        return self._walk_rows(run.run_id, run.steps, None, itertools.count(1))

    def _walk_rows(
        self,
        run_id: str,
        steps: list[StepResult],
        parent: int | None,
        seqs: Iterator[int],
    ) -> Iterator[dict[str, Any]]:
        for step in steps:
            mine = next(seqs)
            yield {
                "run_id": run_id,
                "seq": mine,
                "parent_seq": parent,
                "step_id": step.id,
                "title": self._text(step.title),
                "action": step.action,
                "status": step.status.value,
                "outcome": step.outcome,
                "started": utc_text(step.started),
                "duration": step.duration,
                "values_json": self._json(limit_rows(step.values)),
                "evaluations_json": self._json(step.evaluations),
                "attempts_json": self._json(step.attempts),
                "attempts": len(step.attempts),
                "error": self._text(step.error),
                "hint": self._text(step.hint),
                "item_json": None if step.item is None else self._json(step.item),
                "items_json": None
                if step.items_summary is None
                else self._json(step.items_summary),
                "statement_json": None if step.statement is None else self._json(step.statement),
            }
            yield from self._walk_rows(run_id, step.children, mine, seqs)
