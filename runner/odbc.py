"""Production databases through pyodbc: SQL Server, PostgreSQL, MariaDB/MySQL, SQLite.

pyodbc is imported when the first ODBC connection opens. What this module adds to it:

- errors classified by SQLSTATE and driver code: connection trouble, timeouts,
  serialization failures and deadlocks are transient (retried after a reconnect),
  everything else fails at once;
- statement timeouts and SIGTERM/Ctrl-C that cancel the running statement
  (`Cursor.cancel()` from a watchdog thread), because not every driver honours
  SQL_ATTR_QUERY_TIMEOUT (psqlodbc refuses it) and a signal handler cannot run
  while the main thread waits inside the driver;
- scripts split the way each server needs them: `GO` batches for T-SQL, one statement
  at a time where the driver takes only one (MariaDB, SQLite), whole otherwise;
- every result set (`nextset`) and every PRINT/RAISERROR/NOTICE message kept;
- rehearsal (`--rehearse`) refuses statements the server would commit implicitly.
"""

from __future__ import annotations

import contextlib
import os
import re
import selectors
import signal
import threading
import time
from decimal import Decimal
from typing import Any

from .errors import ABORT_REQUESTED, Aborted, ConfigError
from .steps.base import StepError, StepTimeout, TransientError

# SQLSTATEs worth another attempt: connection exceptions (08xxx), timeouts, serialization
# failures, deadlocks, and PostgreSQL's "the administrator ended your session" (57P0x).
TRANSIENT_SQLSTATES = ("08", "HYT00", "HYT01", "40001", "40P01", "57P01", "57P02", "57P03")
# Native codes: SQL Server (1205 deadlock victim, -2 timeout, 10053/10054 reset,
# 233/64 pipe closed, 40613/40197/40501 Azure busy) and MySQL/MariaDB (1205 lock wait
# timeout, 1213 deadlock, 2002/2003 cannot connect, 2006 gone away, 2013 lost, 1927
# connection killed, 1053 shutdown in progress).
TRANSIENT_NATIVE = (
    "1205", "1213", "2002", "2003", "2006", "2013", "1927", "1053",
    "10053", "10054", "233", "64", "40613", "40197", "40501",
)  # fmt: skip
# What a cancelled statement reports: PostgreSQL 57014, MariaDB HY018 (1317), SQL Server HY008.
CANCELLED_SQLSTATES = ("57014", "HY008", "HY018")
_NATIVE_CODE = re.compile(r"\((-?\d+)\)$")  # pyodbc appends the native code last
_DRIVER_DIALECTS = (
    ("sql server", "tsql"),
    ("freetds", "tsql"),
    ("tds", "tsql"),
    ("postgres", "postgres"),
    ("psqlodbc", "postgres"),
    ("mariadb", "mysql"),
    ("mysql", "mysql"),
    ("sqlite", "sqlite"),
)
# Statements MySQL/MariaDB commit implicitly, so a rehearsal could not roll them back.
_IMPLICIT_COMMIT = re.compile(
    r"^\s*(?:create|alter|drop|rename|truncate|grant|revoke|lock\s+tables|unlock\s+tables"
    r"|load\s+data|analyze\s+table|optimize\s+table|repair\s+table|install|uninstall)\b",
    re.I,
)
_LEADING_COMMENTS = re.compile(r"^(?:\s*(?:--[^\n]*\n|/\*.*?\*/|#[^\n]*\n))*", re.S)
# Drivers that accept only one statement per call (MariaDB without MULTI_STATEMENTS, SQLite).
_ONE_STATEMENT_DIALECTS = ("mysql", "sqlite")


def infer_dialect(connection_string: str) -> str:
    """tsql, postgres, mysql or sqlite from the DRIVER= name; `ansi` when it says nothing."""
    text = connection_string.lower()
    match = re.search(r"driver\s*=\s*\{?([^;}]*)", text)
    name = match.group(1) if match else text
    for needle, dialect in _DRIVER_DIALECTS:
        if needle in name:
            return dialect
    return "ansi"


def classify(
    name: str, error: Exception, timeout: float, cancelled: str | None = None
) -> BaseException:
    """The runner's error for a pyodbc error: StepTimeout, TransientError or StepError."""
    args = getattr(error, "args", ())
    sqlstate = str(args[0]) if len(args) > 1 else ""
    text = str(args[1]) if len(args) > 1 else str(error)
    text = re.sub(r"\s*\((?:SQL\w+)\)\s*$", "", text).strip()  # the ODBC call: noise to a reader
    if cancelled == "abort" or (ABORT_REQUESTED.is_set() and sqlstate in CANCELLED_SQLSTATES):
        return Aborted()
    if cancelled == "timeout" or sqlstate in ("HYT00", "HYT01"):
        return StepTimeout(f"{name}: statement cancelled after its timeout of {timeout:g}s")
    message = f"{name}: {text}"
    if sqlstate and f"[{sqlstate}]" not in text:
        message += f" (SQLSTATE {sqlstate})"
    native = _NATIVE_CODE.search(text)
    if sqlstate.startswith(TRANSIENT_SQLSTATES) or (native and native.group(1) in TRANSIENT_NATIVE):
        return TransientError(message)
    return StepError(message)


def statements_of(sql: str, dialect: str) -> list[str]:
    """The pieces to send one by one: GO batches (tsql), statements (mysql, sqlite), or all."""
    if dialect == "tsql":
        from .tsql import split_batches

        pieces: list[str] = []
        for batch in split_batches(sql):
            pieces.extend([batch.text] * batch.repeat)
        return pieces or [sql]
    if dialect in _ONE_STATEMENT_DIALECTS:
        from .connections import split_statements

        return split_statements(sql)
    return [sql]


def implicitly_commits(sql: str) -> bool:
    """True for a MySQL/MariaDB statement that commits the open transaction by itself."""
    return bool(_IMPLICIT_COMMIT.match(_LEADING_COMMENTS.sub("", sql, count=1)))


class _Watchdog:
    """Cancels running statements whose time is up, or all of them on SIGTERM/Ctrl-C.

    One daemon thread per process. While a statement runs on the main thread, Python's
    wakeup fd points at this thread's pipe, so the C-level signal handler wakes it even
    though the Python-level handler must wait for the driver to return.
    """

    POLL = 0.25  # longest sleep: how late a newly registered deadline may be noticed

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.running: dict[int, tuple[Any, float]] = {}  # token -> (cursor, deadline)
        self.reasons: dict[int, str] = {}
        self.counter = 0
        self.read_fd, self.write_fd = os.pipe()
        os.set_blocking(self.read_fd, False)
        os.set_blocking(self.write_fd, False)
        self.thread = threading.Thread(target=self._loop, name="runbook-odbc-watchdog", daemon=True)
        self.thread.start()

    def watch(self, cursor: Any, timeout: float) -> int:
        deadline = time.monotonic() + timeout if timeout else float("inf")
        with self.lock:
            self.counter += 1
            token = self.counter
            self.running[token] = (cursor, deadline)
        if timeout and timeout < self.POLL:
            os.write(self.write_fd, b"\0")  # wake up in time for a very short timeout
        return token

    def cancelled(self, token: int) -> bool:
        with self.lock:
            return token in self.reasons

    def release(self, token: int) -> str | None:
        """Stop watching; returns "timeout" or "abort" when the watchdog cancelled it."""
        with self.lock:
            self.running.pop(token, None)
            return self.reasons.pop(token, None)

    @contextlib.contextmanager
    def signals(self) -> Any:
        """Route SIGTERM/Ctrl-C to this thread while the main thread waits in the driver."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        try:
            previous = signal.set_wakeup_fd(self.write_fd, warn_on_full_buffer=False)
        except ValueError:  # not the main interpreter
            yield
            return
        try:
            yield
        finally:
            signal.set_wakeup_fd(previous)

    def _loop(self) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self.read_fd, selectors.EVENT_READ)
        while True:
            with self.lock:
                nearest = min((deadline for _, deadline in self.running.values()), default=None)
            wait = (
                self.POLL
                if nearest is None
                else max(0.0, min(self.POLL, nearest - time.monotonic()))
            )
            aborted = False
            if selector.select(wait):
                with contextlib.suppress(BlockingIOError):
                    received = os.read(self.read_fd, 512)
                    aborted = any(byte in (signal.SIGINT, signal.SIGTERM) for byte in received)
            aborted = aborted or ABORT_REQUESTED.is_set()
            now = time.monotonic()
            with self.lock:
                due = [
                    (token, cursor, "abort" if aborted else "timeout")
                    for token, (cursor, deadline) in self.running.items()
                    if aborted or deadline <= now
                ]
                for token, _, reason in due:
                    self.reasons[token] = reason
                    self.running.pop(token)
            for _, cursor, _ in due:
                with contextlib.suppress(Exception):  # it may have finished meanwhile
                    cursor.cancel()


_WATCHDOG: _Watchdog | None = None
_WATCHDOG_LOCK = threading.Lock()


def watchdog() -> _Watchdog:
    global _WATCHDOG
    with _WATCHDOG_LOCK:
        if _WATCHDOG is None:
            _WATCHDOG = _Watchdog()
        return _WATCHDOG


def _plain(columns: list[str], description: Any, rows: list[Any]) -> list[tuple[Any, ...]]:
    """Rows as tuples, NUMERIC/DECIMAL values as int or float like SQLite gives them."""
    decimals = [i for i, d in enumerate(description) if d[1] is Decimal]
    if not decimals:
        return [tuple(row) for row in rows]
    out = []
    for row in rows:
        values = list(row)
        for i in decimals:
            value = values[i]
            if value is not None and value.is_finite():
                values[i] = int(value) if value == value.to_integral_value() else float(value)
        out.append(tuple(values))
    return out


class OdbcConnection:
    """One pyodbc connection in autocommit, with explicit transactions and savepoints."""

    def __init__(self, spec: Any, connection_string: str) -> None:
        self.spec = spec
        self.name = spec.name
        self.dialect = spec.dialect or infer_dialect(connection_string)
        self.lock = threading.RLock()  # for_each items may share it from threads
        self.depth = 0  # open transactions (the first is BEGIN, the rest savepoints)
        self.rehearsing = False  # set by Connections under --rehearse
        try:
            import pyodbc
        except ImportError as error:
            raise ConfigError(
                f"connection {spec.name!r} needs ODBC, which is not available here ({error}). "
                "Install unixODBC and a driver (Debian/Ubuntu: apt-get install unixodbc "
                "odbc-postgresql odbc-mariadb tdsodbc) and the Python package pyodbc."
            ) from None
        self.pyodbc = pyodbc
        self.watchdog = watchdog()
        try:
            self.db = pyodbc.connect(
                connection_string, autocommit=True, timeout=max(1, round(spec.timeout))
            )
        except pyodbc.Error as error:
            raise self._connect_error(error) from None

    def _connect_error(self, error: Exception) -> BaseException:
        found = classify(self.name, error, self.spec.timeout)
        if isinstance(found, StepError):
            text = str(found).removeprefix(f"{self.name}: ")
            kind = type(found)
            if kind is StepTimeout:
                kind = TransientError  # a login timeout is not a statement's timeout
            where = f" (defined at {self.spec.origin})" if self.spec.origin else ""
            return kind(f"cannot connect to {self.name!r}{where}: {text}")
        return found

    # -- statements ------------------------------------------------------------------
    def execute(self, sql: str, params: list[Any], timeout: float) -> dict[str, Any]:
        """Run `sql` (a statement, a script, or T-SQL batches) and collect what it returns."""
        from .connections import count_placeholders

        with self.lock:
            pieces = statements_of(sql, self.dialect)
            if self.rehearsing and self.dialect == "mysql":
                self._refuse_implicit_commit(pieces)
            cursor = self.db.cursor()
            token = self.watchdog.watch(cursor, timeout)
            result_sets: list[dict[str, Any]] = []
            messages: list[tuple[str, str]] = []
            total = 0
            offset = 0
            try:
                with self.watchdog.signals():
                    for piece in pieces:
                        if self.watchdog.cancelled(token):
                            break  # MariaDB ends a cancelled SLEEP() quietly: run no further
                        count = count_placeholders(piece) if len(pieces) > 1 else len(params)
                        args = params[offset : offset + count]
                        offset += count
                        if args:
                            cursor.execute(piece, args)
                        else:
                            cursor.execute(piece)
                        total += self._collect(cursor, result_sets, messages)
            except self.pyodbc.Error as error:
                raise classify(self.name, error, timeout, self.watchdog.release(token)) from None
            finally:
                reason = self.watchdog.release(token)
                with contextlib.suppress(self.pyodbc.Error):
                    cursor.close()
            if reason == "abort":
                raise Aborted()
            if reason == "timeout":  # cancelled, whether or not the driver said so
                raise StepTimeout(
                    f"{self.name}: statement cancelled after its timeout of {timeout:g}s"
                )
            return self._result(result_sets, messages, total)

    def _collect(
        self, cursor: Any, result_sets: list[dict[str, Any]], messages: list[tuple[str, str]]
    ) -> int:
        affected = 0
        while True:
            messages.extend(cursor.messages or ())
            if cursor.description:
                columns = [d[0] for d in cursor.description]
                rows = _plain(columns, cursor.description, cursor.fetchall())
                result_sets.append({"columns": columns, "rows": rows})
            elif cursor.rowcount and cursor.rowcount > 0:
                affected += cursor.rowcount
            if not cursor.nextset():
                break
        return affected

    def _result(
        self, result_sets: list[dict[str, Any]], messages: list[tuple[str, str]], affected: int
    ) -> dict[str, Any]:
        from .connections import _result

        if result_sets:
            first = result_sets[0]  # the step's value is the first result set
            result = _result(first["columns"], first["rows"], len(first["rows"]))
        else:
            result = _result([], [], affected)
        if len(result_sets) > 1:
            result["result_sets"] = [
                {
                    "columns": s["columns"],
                    "rows": [dict(zip(s["columns"], r, strict=False)) for r in s["rows"]],
                }
                for s in result_sets
            ]
        if messages:
            from .tsql import clean_messages

            result["messages"] = clean_messages(messages)
        return result

    def _refuse_implicit_commit(self, pieces: list[str]) -> None:
        for piece in pieces:
            if implicitly_commits(piece):
                keyword = _LEADING_COMMENTS.sub("", piece, count=1).split()[0].upper()
                raise StepError(
                    f"{self.name}: --rehearse cannot run {keyword} here: MySQL/MariaDB commit "
                    "DDL implicitly, so it could not be rolled back. Nothing was changed; "
                    "rehearse against a copy of the database, or use --dry-run to see the SQL"
                )

    # -- transactions ---------------------------------------------------------------
    def _savepoint(self, verb: str) -> str:
        name = f"sp{self.depth}"
        if self.dialect == "tsql":
            tsql = {"save": "SAVE TRANSACTION", "rollback": "ROLLBACK TRANSACTION"}
            return f"{tsql[verb]} {name}"
        return {
            "save": f"SAVEPOINT {name}",
            "rollback": f"ROLLBACK TO SAVEPOINT {name}",
            "release": f"RELEASE SAVEPOINT {name}",
        }[verb]

    def begin(self) -> None:
        with self.lock:
            try:
                if self.depth == 0:
                    self.db.autocommit = False
                else:
                    self.db.execute(self._savepoint("save"))
            except self.pyodbc.Error as error:
                raise classify(self.name, error, 0) from None
            self.depth += 1

    def commit(self) -> None:
        with self.lock:
            self.depth -= 1
            try:
                if self.depth == 0:
                    self.db.commit()
                    self.db.autocommit = True
                elif self.dialect != "tsql":  # SQL Server has no RELEASE: the save point stays
                    self.db.execute(self._savepoint("release"))
            except self.pyodbc.Error as error:
                raise classify(self.name, error, 0) from None

    def rollback(self) -> None:
        with self.lock:
            if self.depth == 0:
                return
            self.depth -= 1
            if self.depth == 0:
                self.db.rollback()
                self.db.autocommit = True
            else:
                self.db.execute(self._savepoint("rollback"))

    def close(self) -> None:
        with self.lock:
            try:
                while self.depth:
                    self.rollback()
            finally:
                self.db.close()
