"""Production databases through pyodbc: SQL Server, PostgreSQL, MariaDB/MySQL, SQLite.

pyodbc is imported when the first ODBC connection opens. What this module adds to it,
with what differs between servers asked of the connection's dialect (runner/dialects/):

- errors classified by SQLSTATE and driver code: connection trouble, timeouts,
  serialization failures and deadlocks are transient (retried after a reconnect),
  everything else fails at once;
- statement timeouts and aborts that cancel the running statement
  (`Cursor.cancel()` from the watchdog thread, databases/watchdog.py), because not
  every driver honours SQL_ATTR_QUERY_TIMEOUT (psqlodbc refuses it) and a signal
  handler cannot run while the main thread waits inside the driver;
- scripts split the way each server needs them: `GO` batches for T-SQL, one statement
  at a time where the driver takes only one (MariaDB, SQLite), whole otherwise;
- every result set (`nextset`) and every PRINT/RAISERROR/NOTICE message kept;
- rehearsal (`--rehearse`) refuses statements the server would commit implicitly.
"""

from __future__ import annotations

import contextlib
import threading
from decimal import Decimal
from itertools import repeat
from typing import Any

from runner.base.abort import RunAbort
from runner.base.errors import (
    Aborted,
    ConfigError,
    StepError,
    StepTimeout,
    TransientError,
)
from runner.databases.watchdog import watchdog
from runner.dialects import Dialect, get, infer
from runner.dialects.scripts import count_placeholders
from runner.dialects.tsql import clean_messages


def _collect(
    cursor: Any,
    sets: list[tuple[Any, list[Any]]],
    messages: list[tuple[str, str]],
    more: bool,
) -> int:
    """Every result set and message of the statement just run; returns rows affected.
    `more`: the statement may have further result sets (else one is all there is)."""
    affected = 0
    while True:
        description = cursor.description
        if description:
            sets.append((description, cursor.fetchall()))
        elif cursor.rowcount > 0:
            affected += cursor.rowcount
        if cursor.messages:
            messages.extend(cursor.messages)
        if not more or not cursor.nextset():
            return affected


def _number(value: Any) -> Any:
    """A finite Decimal as int when integral, else float; anything else unchanged."""
    if isinstance(value, Decimal) and value.is_finite():
        # One exact conversion to integers instead of rounding, comparing and formatting
        # a string for float(): the same results (int / int rounds correctly too).
        numerator, denominator = value.as_integer_ratio()
        if denominator == 1:
            return numerator
        try:
            return numerator / denominator
        except OverflowError:  # beyond float range: what float() gives, +-inf
            return float(value)
    return value


# What the step's values need of a result set's `cursor.description`: the description
# itself (to tell when it changes), the column names, and where the NUMERIC/DECIMAL
# columns are. Worked out once per statement text, not per execution.
Shape = tuple[Any, tuple[str, ...], tuple[int, ...]]


def _shape(description: Any) -> Shape:
    columns = tuple(d[0] for d in description)
    return description, columns, tuple(i for i, d in enumerate(description) if d[1] is Decimal)


def _mapped(shape: Shape, rows: list[Any]) -> list[dict[str, Any]]:
    """Rows as dicts; NUMERIC/DECIMAL values as int or float, as SQLite gives them."""
    _, columns, decimals = shape
    if decimals:
        _convert(rows, decimals)
    # map() rather than a comprehension: no frame per call, and this runs per statement;
    # zip() with a keyword argument (strict=) costs more than the dict it feeds.
    return list(map(dict, map(zip, repeat(columns), rows)))


def _convert(rows: list[Any], decimals: tuple[int, ...]) -> None:
    """`_number` on the NUMERIC/DECIMAL columns, in place (pyodbc's rows are mutable and
    nothing else holds them); inlined for finite values, as it runs per value."""
    for row in rows:
        for i in decimals:
            value = row[i]
            if value is not None:
                try:
                    numerator, denominator = value.as_integer_ratio()
                    row[i] = numerator if denominator == 1 else numerator / denominator
                except (ValueError, OverflowError):  # NaN, infinity, beyond float range
                    row[i] = _number(value)


def _one_set(
    shape: Shape | None, rows: list[Any] | None, affected: int, messages: list[tuple[str, str]]
) -> dict[str, Any]:
    """The step's values from one result set (or none: `affected` rows changed)."""
    if shape is None:
        result: dict[str, Any] = {
            "rows": [],
            "row": {},
            "value": None,
            "columns": [],
            "rowcount": affected,
        }
    else:
        rows = rows or []
        if shape[2]:
            _convert(rows, shape[2])
        # _mapped() without its call, as this runs per statement; one row (a lookup, an
        # aggregate) without map()'s set-up, which costs more than the dict it makes. No
        # strict=: a row has a value per column, and the keyword costs more than the dict.
        if len(rows) == 1:
            mapped = [dict(zip(shape[1], rows[0]))]  # noqa: B905
        else:
            mapped = list(map(dict, map(zip, repeat(shape[1]), rows)))
        result = {
            "rows": mapped,
            "row": mapped[0] if mapped else {},
            # By position, since names may repeat (the rows were converted in place).
            "value": rows[0][0] if rows else None,
            "columns": list(shape[1]),
            "rowcount": len(mapped),
        }
    if messages:
        result["messages"] = clean_messages(messages)
    return result


def _values(
    sets: list[tuple[Any, list[Any]]],
    messages: list[tuple[str, str]],
    affected: int,
) -> dict[str, Any]:
    """The step's values: the first result set as rows/row/value, the others kept too."""
    if not sets:
        return _one_set(None, None, affected, messages)
    result = _one_set(_shape(sets[0][0]), sets[0][1], affected, messages)
    if len(sets) > 1:
        result["result_sets"] = [{"columns": result["columns"], "rows": result["rows"]}] + [
            {"columns": list(shape[1]), "rows": _mapped(shape, rows)}
            for shape, rows in ((_shape(d), rows) for d, rows in sets[1:])
        ]
    return result


class OdbcConnection:
    """One pyodbc connection in autocommit, with explicit transactions and savepoints."""

    def __init__(
        self,
        spec: Any,
        connection_string: str,
        abort: RunAbort | None = None,
        application: str = "",
    ) -> None:
        self.spec = spec
        self.name = spec.name
        self.abort = abort if abort is not None else RunAbort()  # the run's: stops it
        self.dialect: Dialect = get(spec.dialect) if spec.dialect else infer(connection_string)
        self.lock = threading.RLock()  # for_each items may share it from threads
        self.depth = 0  # open transactions (the first is BEGIN, the rest savepoints)
        self.rehearsing = False  # set by Connections under --rehearse
        self.cursor: Any = None
        # The last statement's text and plan (pieces to send, whether to look for more
        # result sets): a step repeated in a loop or on a schedule is planned once.
        self.last_sql = ""
        self.last_plan: tuple[list[str], bool] = ([], True)
        self.shape: Shape = ((), (), ())  # of the last single result set
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
                self.dialect.odbc_connection_string(connection_string),
                autocommit=True,
                timeout=max(1, round(spec.timeout)),
            )
            if self.dialect.parameter_encoding:
                self.db.setencoding(encoding=self.dialect.parameter_encoding)
            if application and self.dialect.name == "postgres":
                # Names the session in pg_stat_activity ("runbook step <run id>"), so the
                # next run can end it if this process dies (databases/orphans.py).
                self.db.execute("SELECT set_config('application_name', ?, false)", application)
        except pyodbc.Error as error:
            raise self._connect_error(error) from None
        self.watch = self.watchdog.register(self.abort)
        self.routes_signals = self.watch.signals = self.watchdog.attach()

    def _error(
        self, error: BaseException, timeout: float, cancelled: str | None = None
    ) -> BaseException:
        """The runner's error for a pyodbc error, as the dialect classifies it."""
        return self.dialect.classify(self.name, error, timeout, cancelled, abort=self.abort)

    def _connect_error(self, error: Exception) -> BaseException:
        found = self._error(error, self.spec.timeout)
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
        """Run `sql` (a statement, a script, or T-SQL batches) and collect what it returns.

        One statement with one result set is the usual case, paid for every statement
        (bench/odbc_overhead.py), so it is kept short; everything else goes through
        `_execute_pieces`."""
        lock = self.lock
        lock.acquire()  # for_each items may share the connection from threads
        try:
            if sql != self.last_sql:
                self.last_plan = self._plan(sql)
                self.last_sql = sql
            pieces, more = self.last_plan
            if more or len(pieces) > 1 or self.rehearsing:
                return self._execute_pieces(pieces, params, timeout)
            cursor = self.cursor if self.cursor is not None else self._new_cursor()
            watchdog, watch = self.watchdog, self.watch
            watchdog.start(watch, timeout)
            try:
                # pieces[0] is the same str object each time the same text comes back:
                # pyodbc keeps a statement prepared only for the very same object.
                if params:
                    cursor.execute(pieces[0], params)
                else:
                    cursor.execute(pieces[0])
                description = cursor.description
                rows = cursor.fetchall() if description else None
                affected = cursor.rowcount
                messages = cursor.messages
            except BaseException as error:
                reason = watchdog.stop(watch)
                if isinstance(error, self.pyodbc.Error):
                    raise self._error(error, timeout, reason) from None
                raise
            reason = watchdog.stop(watch)
            if reason is not None:
                raise self._cancelled(reason, timeout)
            if not description:
                return _one_set(None, None, max(affected, 0), messages)
            shape = self.shape
            if description != shape[0]:  # another statement, or its table changed
                shape = self.shape = _shape(description)
            return _one_set(shape, rows, 0, messages)
        finally:
            lock.release()

    def _execute_pieces(
        self, pieces: list[str], params: list[Any], timeout: float
    ) -> dict[str, Any]:
        """A script, T-SQL batches, a statement that may return several result sets, or
        anything under --rehearse: every piece, result set and message, under one timeout."""
        if self.rehearsing:
            self._refuse_implicit_commit(pieces)
        cursor = self.cursor if self.cursor is not None else self._new_cursor()
        watchdog, watch = self.watchdog, self.watch
        sets: list[tuple[Any, list[Any]]] = []
        messages: list[tuple[str, str]] = []
        watchdog.start(watch, timeout)
        try:
            affected = self._run_pieces(cursor, pieces, params, sets, messages)
        except BaseException as error:
            reason = watchdog.stop(watch)
            if isinstance(error, self.pyodbc.Error):
                raise self._error(error, timeout, reason) from None
            raise
        reason = watchdog.stop(watch)
        if reason is not None:
            raise self._cancelled(reason, timeout)
        return _values(sets, messages, affected)

    def _cancelled(self, reason: str, timeout: float) -> BaseException:
        """What a statement the watchdog cancelled ends with, whether or not the driver
        said it was cancelled: aborted (SIGTERM, Ctrl-C) or timed out."""
        if reason == "abort":
            return Aborted(getattr(self.abort, "by", ""))
        return StepTimeout(f"{self.name}: statement cancelled after its timeout of {timeout:g}s")

    def _plan(self, sql: str) -> tuple[list[str], bool]:
        """The pieces to send, and whether a piece may return more than one result set.

        Asking the driver for another result set (`nextset`) costs a call per statement;
        it is skipped only where none can come: one statement (no `;` before its end) in
        a dialect whose statements return one result set (PostgreSQL, SQLite).
        """
        pieces = self.dialect.split(sql)
        single = (
            len(pieces) == 1
            and self.dialect.one_result_per_statement
            and ";" not in sql.rstrip().rstrip(";")
        )
        return pieces, not single

    def _run_pieces(
        self,
        cursor: Any,
        pieces: list[str],
        params: list[Any],
        sets: list[tuple[Any, list[Any]]],
        messages: list[tuple[str, str]],
    ) -> int:
        """Send batches or statements one by one, each with its own share of the values."""
        affected = 0
        offset = 0
        for piece in pieces:
            if self.watch.reason is not None:  # cancelled by the watchdog
                break  # MariaDB ends a cancelled SLEEP() quietly: run no further
            if len(pieces) == 1:  # all of them, uncounted (`?` may be an operator)
                args = params
            else:
                count = count_placeholders(piece)
                args = params[offset : offset + count]
                offset += count
            if args:
                cursor.execute(piece, args)
            else:
                cursor.execute(piece)
            affected += _collect(cursor, sets, messages, True)
        return affected

    def _new_cursor(self) -> Any:
        # One cursor per connection, reused: pyodbc keeps the last statement prepared, so a
        # step repeated in a loop is not parsed again, and no handle is freed per statement.
        self.cursor = self.watch.cursor = self.db.cursor()
        return self.cursor

    def _refuse_implicit_commit(self, pieces: list[str]) -> None:
        for piece in pieces:
            keyword = self.dialect.implicit_commit(piece)
            if keyword:
                raise StepError(
                    f"{self.name}: --rehearse cannot run {keyword} here: {self.dialect.title} "
                    "commit DDL implicitly, so it could not be rolled back. Nothing was changed; "
                    "rehearse against a copy of the database, or use --dry-run to see the SQL"
                )

    # -- transactions (the first is BEGIN, the nested ones savepoints sp1, sp2, ...) ----

    def begin(self) -> None:
        with self.lock:
            try:
                if self.depth == 0:
                    self.db.autocommit = False
                else:
                    self.db.execute(self.dialect.savepoint(f"sp{self.depth}"))
            except self.pyodbc.Error as error:
                raise self._error(error, 0) from None
            self.depth += 1

    def commit(self) -> None:
        with self.lock:
            self.depth -= 1
            try:
                if self.depth == 0:
                    self.db.commit()
                    self.db.autocommit = True
                elif release := self.dialect.release(f"sp{self.depth}"):
                    self.db.execute(release)
            except self.pyodbc.Error as error:
                raise self._error(error, 0) from None

    def rollback(self) -> None:
        with self.lock:
            if self.depth == 0:
                return
            self.depth -= 1
            if self.depth == 0:
                self.db.rollback()
                self.db.autocommit = True
            else:
                self.db.execute(self.dialect.rollback_to(f"sp{self.depth}"))

    def close(self) -> None:
        with self.lock:
            try:
                while self.depth:
                    self.rollback()
            finally:
                if self.cursor is not None:
                    with contextlib.suppress(Exception):
                        self.cursor.close()
                self.watchdog.unregister(self.watch)
                self.db.close()
                if self.routes_signals:
                    self.routes_signals = False
                    self.watchdog.detach()
