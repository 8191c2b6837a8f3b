"""The lock of one runbook across hosts: a PostgreSQL advisory lock in the shared state
store, kept on a connection of its own for the whole run (history/locks.py pairs it with
the local file lock)."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import suppress
from datetime import UTC, datetime
from typing import Any

from runner.base.clock import utc_text
from runner.base.errors import LockLost
from runner.dialects.errors import DriverError
from runner.history.backends import LOCK_APPLICATION, advisory_key
from runner.history.waiting import MODES, Clock, Sleep, describe_holder, poll, soon

Connect = Callable[[str], Any]


class AdvisoryRunLock:
    """The lock of one runbook across hosts, in the shared PostgreSQL state store.

    `connect(application_name)` opens a new pyodbc connection (autocommit) to the
    store's database. The lock is `pg_try_advisory_lock(key)` on it, polled (mode wait)
    rather than `pg_advisory_lock`, so Ctrl-C and SIGTERM are heard while waiting and a
    timeout is possible. The session is named "runbook run <run id>" so that another
    host finds who holds the lock in pg_locks and pg_stat_activity, and the run's row
    in `runs` says where it runs; stale 'running' rows of crashed runs never confuse it.
    Waiting reads `clock` and pauses with `sleep`, which tests swap for a fake pair.
    """

    def __init__(
        self,
        connect: Connect,
        runbook: str,
        mode: str = "skip",
        *,
        timeout: float | None = None,
        run_id: str | None = None,
        sleep: Sleep = time.sleep,
        clock: Clock = time.monotonic,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"concurrency must be one of {', '.join(MODES)}, not {mode!r}")
        self.runbook = runbook
        self.mode = mode
        self.timeout = timeout
        self.run_id = run_id
        self._key: int | None = None  # named by the store's schema too: see `key_on`
        self.sleep = sleep
        self.clock = clock
        self._connect = connect
        self._conn: Any = None
        self._held = False
        self._held_at: datetime | None = None  # last seen held: acquired or verified

    @property
    def held(self) -> bool:
        return self._held

    def acquire(self) -> bool:
        if self._held:
            return True
        if self.mode == "allow":
            self._held = True
            return True
        conn = self._connect(f"{LOCK_APPLICATION}{self.run_id or ''}")
        try:
            got = self._lock(conn)
        except BaseException:
            conn.close()
            raise
        if not got:
            conn.close()
            return False
        self._conn, self._held, self._held_at = conn, True, datetime.now(UTC)
        return True

    def verify(self, before: str = "") -> str | None:
        """Whether the session holding the lock still does. When it is gone (a restarted
        server, a killed session, a network cut), the server has let the lock go while
        this run goes on: take it again on a new connection and say so (with any run
        that started meanwhile), or raise LockLost when another process holds it now or
        the store cannot be asked. One round trip while all is well."""
        if not self._held or self._conn is None:  # not taken, or mode allow
            return None
        now = datetime.now(UTC)
        try:
            if _holds_advisory(self._conn, self.key_on(self._conn)):
                self._held_at = now
                return None
            cause = "its session no longer held it"
        except Exception as error:
            cause = f"its connection to the state store dropped: {_error_text(error)}"
        with suppress(Exception):
            self._conn.close()
        self._conn = None
        where = f" before step {before!r}" if before else ""
        lost = f"{self.runbook} lost its cross-host lock{where} ({cause})"
        stop = "; the run stops here so that two runs never overlap"
        try:
            conn = self._connect(f"{LOCK_APPLICATION}{self.run_id or ''}")
        except Exception as error:
            self._held = False
            raise LockLost(
                f"{lost} and cannot take it again ({_error_text(error)}){stop}"
            ) from None
        try:
            got = self._try(conn)
            holder = None if got else _advisory_holder(conn, self.key_on(conn))
        except BaseException as error:
            self._held = False
            with suppress(Exception):
                conn.close()
            if not isinstance(error, Exception):  # Ctrl-C, SIGTERM: theirs to handle
                raise
            raise LockLost(
                f"{lost} and cannot take it again ({_error_text(error)}){stop}"
            ) from None
        if not got:
            self._held = False
            with suppress(Exception):
                conn.close()
            who = describe_holder(holder) if holder else "another process"
            raise LockLost(f"{lost}, and {who} holds it now{stop}")
        self._conn, since, self._held_at = conn, self._held_at or now, now
        note = f"{lost} and took it again"
        try:
            meanwhile = _runs_since(conn, self.runbook, since, self.run_id)
        except Exception:  # the lock is held again; only the account is incomplete
            return f"{note}; which runs started meanwhile could not be read"
        if meanwhile:
            note += f"; meanwhile {', '.join(meanwhile)} started"
        return note

    def release(self) -> None:
        if not self._held:
            return
        self._held = False
        conn, self._conn = self._conn, None
        if conn is None:  # mode allow
            return
        # Closing the session releases the lock anyway; unlocking first says so at once.
        with suppress(Exception):
            conn.execute("SELECT pg_advisory_unlock(?)", self.key_on(conn))
        with suppress(Exception):
            conn.close()

    def holder(self) -> str | None:
        """Who holds the lock: "pid 1234 on web01, run 2026...-ab12cd, since ..."; None
        when nobody does."""
        conn = self._conn if self._held and self._conn is not None else self._connect("runbook")
        try:
            # The holder locks before it records its run: allow it that moment.
            details = soon(
                lambda: _advisory_holder(conn, self.key_on(conn)),
                lambda found: found is None or bool(found.get("pid")),
                self.sleep,
            )
            if details is None:
                return None
            if details.get("pid"):
                return describe_holder(details)
            run = details.get("run_id")
            return f"another process, run {run}" if run else "another process"
        finally:
            if conn is not self._conn:
                with suppress(Exception):
                    conn.close()

    def key_on(self, conn: Any) -> int:
        """The lock's key: the runbook's name in the store's schema. Advisory locks belong
        to the whole database, and two stores may share one in separate schemas (the
        README's `SET search_path`): a runbook of one must not hold back the other's."""
        if self._key is None:
            row = conn.execute("SELECT current_schema()").fetchone()
            self._key = advisory_key(f"run-lock:{row[0] if row else ''}:{self.runbook}")
        return self._key

    def _lock(self, conn: Any) -> bool:
        if self._try(conn):
            return True
        if self.mode == "skip":
            return False
        return poll(lambda: self._try(conn), self.timeout, self.sleep, self.clock)

    def _try(self, conn: Any) -> bool:
        # CASE: psqlodbc hands booleans over as text unless BoolsAsChar=0.
        row = conn.execute(
            "SELECT CASE WHEN pg_try_advisory_lock(?) THEN 1 ELSE 0 END", self.key_on(conn)
        ).fetchone()
        return bool(row and int(row[0]))


def _key_halves(key: int) -> tuple[int, int]:
    """pg_locks shows a bigint advisory key as two unsigned 32-bit halves."""
    return (key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF


def _holds_advisory(conn: Any, key: int) -> bool:
    """Whether the session of `conn` holds advisory lock `key` (raises if it is gone)."""
    high, low = _key_halves(key)
    row = conn.execute(
        "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
        "AND objsubid = 1 AND pid = pg_backend_pid() "
        "AND classid::bigint = ? AND objid::bigint = ?",
        high,
        low,
    ).fetchone()
    return bool(row and int(row[0]))


def _runs_since(conn: Any, runbook: str, since: datetime, run_id: str | None) -> list[str]:
    """Other runs of `runbook` recorded as started after `since` (not skipped ones):
    "run 2026...-ab12cd on web02"."""
    rows = conn.execute(
        "SELECT run_id, host FROM runs WHERE runbook = ? AND started >= ? AND run_id <> ? "
        "AND outcome <> 'skipped' ORDER BY started",
        runbook,
        utc_text(since),
        run_id or "",
    ).fetchall()
    return [f"run {row[0]} on {row[1]}" if row[1] else f"run {row[0]}" for row in rows]


def _error_text(error: BaseException) -> str:
    """The first line of a driver's message, without pyodbc's (sqlstate, ...) tuple, the
    [sqlstate][driver] tags or the name of the ODBC call: what a reader needs to know."""
    return DriverError.of(error).first_line or type(error).__name__


def _advisory_holder(conn: Any, key: int) -> dict[str, object] | None:
    """The run holding advisory lock `key`: {"run_id", and from `runs` "pid", "host",
    "since"}; None when nobody holds it."""
    high, low = _key_halves(key)
    found = conn.execute(
        "SELECT a.application_name FROM pg_locks AS l "
        "JOIN pg_stat_activity AS a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
        "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
        "AND l.classid::bigint = ? AND l.objid::bigint = ?",
        high,
        low,
    ).fetchone()
    if found is None:
        return None
    name = str(found[0] or "")
    run_id = name[len(LOCK_APPLICATION) :] if name.startswith(LOCK_APPLICATION) else ""
    if not run_id:
        return {}
    row = conn.execute("SELECT pid, host, started FROM runs WHERE run_id = ?", run_id).fetchone()
    if row is None:
        return {"run_id": run_id}
    since = str(row[2] or "")[:19] + "Z" if row[2] else None
    return {"pid": row[0], "host": row[1], "run_id": run_id, "since": since}
