"""Database connections for one run: opened on first use, one per name, closed at the end.

SQLite (stdlib) is the embedded default; anything else goes through pyodbc, imported
only when an ODBC connection is opened. Each connection runs in autocommit unless a
transaction is open: a `transaction` group, or the whole run under `--rehearse`,
which is rolled back at the end. Nested transactions become savepoints.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from itertools import repeat
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.base.abort import RunAbort
from runner.base.errors import ConfigError, StepError
from runner.databases.orphans import step_application
from runner.dialects import Dialect, get
from runner.dialects.scripts import count_placeholders
from runner.dialects.sqlite import classify_sqlite3
from runner.language.config import STATE_CONNECTION, Config, ConnectionSpec

if TYPE_CHECKING:  # imported when an ODBC connection opens: a SQLite run never loads it
    from runner.databases.odbc import OdbcConnection

__all__ = ["Connection", "Connections", "SqliteConnection"]


class Connection:
    """One open database connection with explicit transaction control."""

    def __init__(self, spec: ConnectionSpec, dialect: Dialect) -> None:
        self.spec = spec
        self.name = spec.name
        self.dialect = dialect
        self.lock = threading.RLock()  # for_each items may share it from threads
        self.depth = 0  # open transactions (the first is BEGIN, the rest savepoints)
        self.rehearsing = False  # set under --rehearse: the whole run is one transaction

    def execute(self, sql: str, params: list[Any], timeout: float) -> dict[str, Any]:
        raise NotImplementedError

    def begin(self) -> None:
        raise NotImplementedError

    def commit(self) -> None:
        raise NotImplementedError

    def rollback(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


def _result(columns: list[str], rows: list[tuple[Any, ...]], rowcount: int) -> dict[str, Any]:
    # map() rather than a comprehension, zip() without strict= (its keyword costs more
    # than the dict it feeds): this runs per row, 10,000 of them for a loop's ids
    mapped = list(map(dict, map(zip, repeat(columns), rows)))
    return {
        "rows": mapped,
        "row": mapped[0] if mapped else {},
        "value": rows[0][0] if rows and rows[0] else None,
        "columns": columns,
        "rowcount": rowcount if rowcount >= 0 else len(rows),
    }


class SqliteConnection(Connection):
    def __init__(
        self,
        spec: ConnectionSpec,
        path: str,
        read_only: bool = False,
        abort: RunAbort | None = None,
    ) -> None:
        super().__init__(spec, get("sqlite"))
        self.abort = abort if abort is not None else RunAbort()
        if path != ":memory:":
            file = Path(path)
            if not file.exists():
                raise StepError(
                    f"connection {spec.name!r}: database file {path} does not exist"
                    + (f" (defined at {spec.origin})" if spec.origin else "")
                )
            uri = f"file:{file.resolve()}?mode={'ro' if read_only else 'rw'}"
        else:
            uri = ":memory:"
        try:
            self.db = sqlite3.connect(
                uri,
                uri=uri != ":memory:",
                timeout=spec.timeout,
                isolation_level=None,
                check_same_thread=False,
            )
            self.db.execute("PRAGMA foreign_keys = ON")
            # Cancels a statement past its deadline, or when the run is aborted, from inside
            # SQLite's own loop: cheaper than a timer thread per statement.
            self.db.set_progress_handler(self._should_stop, 10_000)
        except sqlite3.Error as error:
            raise StepError(
                f"connection {spec.name!r}: cannot open SQLite database {path}: {error}"
            ) from None

    _deadline = 0.0  # monotonic time after which the running statement is cancelled
    _last_sql = ""  # the last statement's text, and its statements as split
    _last_split: list[str] = []  # noqa: RUF012 - replaced, never changed in place
    _last_bare = False  # whether the last text was one statement that returned no rows

    def _should_stop(self) -> bool:
        return self.abort.is_set() or (0 < self._deadline < time.monotonic())

    def execute(self, sql: str, params: list[Any], timeout: float) -> dict[str, Any]:
        with self.lock:
            self._deadline = time.monotonic() + timeout if timeout else 0.0
            try:
                if sql != self._last_sql:  # a loop sends the same text again: split it once
                    self._last_split, self._last_sql = self.dialect.split(sql), sql
                    self._last_bare = False
                statements = self._last_split
                if len(statements) == 1:
                    cursor = self.db.execute(statements[0], params)
                    rows = cursor.fetchall()
                    if cursor.description:
                        self._last_bare = False
                        columns = [d[0] for d in cursor.description]
                        return _result(columns, rows, cursor.rowcount)
                    self._last_bare = True
                    # No result set (an UPDATE): what _result would make, inlined.
                    count = cursor.rowcount if cursor.rowcount > 0 else 0
                    return {"rows": [], "row": {}, "value": None, "columns": [], "rowcount": count}
                result: dict[str, Any] = _result([], [], 0)
                total = 0
                offset = 0
                for statement in statements:
                    count = count_placeholders(statement) if len(statements) > 1 else len(params)
                    cursor = self.db.execute(statement, params[offset : offset + count])
                    offset += count
                    rows = cursor.fetchall()
                    total += max(cursor.rowcount, 0)
                    if cursor.description:
                        result = _result([d[0] for d in cursor.description], rows, cursor.rowcount)
                if not result["columns"]:
                    result["rowcount"] = total
                return result
            except sqlite3.Error as error:
                raise classify_sqlite3(self.name, error, timeout, abort=self.abort) from None
            finally:
                self._deadline = 0.0

    def execute_many(self, sql: str, feed: Iterable[tuple[list[Any], float]]) -> bool:
        """Run `sql` once for each (values, timeout) of `feed`, as sqlite3's executemany:
        the statement prepared and its cursor made once, each statement cancelled past
        its own timeout as `execute` does, the rows each one changed not counted. False,
        taking nothing from `feed`, unless `sql` is the text `execute` ran last and was
        one statement that returned no rows (executemany returns none). A statement's
        failure raises what `execute` raises for it; `feed`'s own errors pass through."""
        with self.lock:
            if sql != self._last_sql or not self._last_bare:
                return False
            timeout = 0.0

            def each() -> Iterator[list[Any]]:
                nonlocal timeout
                for values, timeout in feed:  # noqa: B007 - read after a failure
                    self._deadline = time.monotonic() + timeout if timeout else 0.0
                    yield values

            try:
                self.db.executemany(self._last_split[0], each())
            except sqlite3.Error as error:
                raise classify_sqlite3(self.name, error, timeout, abort=self.abort) from None
            finally:
                self._deadline = 0.0
            return True

    # Savepoints as SQLite's dialect spells them; SQLite has them all, RELEASE included.
    def begin(self) -> None:
        with self.lock:
            if self.depth == 0:
                self.db.execute("BEGIN")
            else:
                self.db.execute(self.dialect.savepoint(f"sp{self.depth}"))
            self.depth += 1

    def commit(self) -> None:
        with self.lock:
            self.depth -= 1
            if self.depth == 0:
                self.db.execute("COMMIT")
            else:
                self.db.execute(self.dialect.release(f"sp{self.depth}"))

    def rollback(self) -> None:
        with self.lock:
            if self.depth == 0:
                return
            self.depth -= 1
            if self.depth == 0:
                self.db.execute("ROLLBACK")
            else:
                # SQLite keeps a savepoint rolled back to open: release it too.
                self.db.execute(self.dialect.rollback_to(f"sp{self.depth}"))
                self.db.execute(self.dialect.release(f"sp{self.depth}"))

    def close(self) -> None:
        with self.lock:
            while self.depth:
                self.rollback()
            self.db.close()


class _Lane(threading.local):
    """The lane of a parallel loop this thread runs in (0: none); read per statement, so
    a class default rather than getattr(..., 0), which raises and catches inside."""

    number = 0


class Connections:
    """The connections of one run, by name; `overrides` maps a name to another spec's name."""

    def __init__(
        self,
        config: Config,
        *,
        rehearse: bool = False,
        overrides: Mapping[str, str] | None = None,
        on_secret: Any = None,
        abort: RunAbort | None = None,
        run_id: str = "",
    ) -> None:
        self.config = config
        # PostgreSQL sessions of the run are named after it (databases/orphans.py).
        self.application = step_application(run_id) if run_id else ""
        self.rehearse = rehearse
        self.overrides = dict(overrides or {})
        self.on_secret = on_secret
        self.abort = abort if abort is not None else RunAbort()
        self.open: dict[str, Connection | OdbcConnection] = {}
        self.lock = threading.Lock()
        # Looked up for every sql statement; config and overrides are fixed for the run.
        self._specs: dict[str, ConnectionSpec] = {}
        self._dialects: dict[str, str] = {}
        #: the run's sql steps made ready (steps/sql.py), by id() of the step's config;
        #: each says what it was made for (text, connection, place), checked per statement
        self.statements: dict[int, Any] = {}
        # parallel loops (lanes()): the lane of the current thread, lanes free to reuse,
        # and how many loops have lanes now (while none does, get() reads no lane)
        self._lane = _Lane()
        self._free_lanes: list[int] = []
        self._lanes_made = 0
        self._lanes_open = 0

    def spec(self, name: str) -> ConnectionSpec:
        found = self._specs.get(name)
        if found is None:
            found = self._specs[name] = self._find_spec(name)
        return found

    def _find_spec(self, name: str) -> ConnectionSpec:
        target = self.overrides.get(name, name)
        if target == STATE_CONNECTION and target not in self.config.connections:
            return ConnectionSpec(STATE_CONNECTION, "sqlite", str(self.config.state), "sqlite")
        spec = self.config.connections.get(target)
        if spec is None:
            known = ", ".join(sorted(self.config.connections)) or "none"
            raise ConfigError(
                f"unknown connection {target!r} (known: {known}; see {self.config.display_path})"
            )
        return spec

    def dialect(self, name: str) -> str:
        found = self._dialects.get(name)
        if found is None:
            found = self._dialects[name] = self.spec(name).sql_dialect()
        return found

    def get(self, name: str) -> Connection | OdbcConnection:
        # Looked up for every sql statement: the thread-local lane is read only while a
        # parallel loop runs (a read of it costs more than the rest of this method).
        if self._lanes_open:
            lane = self._lane.number
            if lane:  # a worker of a parallel loop: its own connection (see lanes())
                return self._get_in_lane(name, lane)
        found = self.open.get(name)  # already open: no lock needed to read a dict
        if found is not None:
            return found
        with self.lock:
            found = self.open.get(name)
            if found is None:
                found = self.open[name] = self._connect(name)
            return found

    def _connect(self, name: str) -> Connection | OdbcConnection:
        spec = self.spec(name)
        target, secrets = spec.resolve()
        if self.on_secret:
            for value in secrets:
                self.on_secret(value)
        if spec.kind == "sqlite":
            if spec.demo:
                from runner.databases.demo import ensure_demo

                ensure_demo(spec.demo, Path(target))
            connection: Connection | OdbcConnection = SqliteConnection(
                spec, target, read_only=spec.name == STATE_CONNECTION, abort=self.abort
            )
        else:
            from runner.databases.odbc import OdbcConnection

            connection = OdbcConnection(
                spec, target, abort=self.abort, application=self.application
            )
            if spec.demo:
                _ensure_odbc_demo(spec, target, connection)
        if self.rehearse:
            connection.rehearsing = True
            connection.begin()
        return connection

    # -- parallel loops: a small pool per run and connection name ------------------------

    def shared(self, name: str) -> bool:
        """Whether the workers of a parallel loop share `name`'s one connection (SQLite:
        one writer at a time, so more connections would only wait on each other's locks;
        under --rehearse, so that every statement is in the one rolled-back transaction)."""
        return self.rehearse or self.spec(name).kind == "sqlite"

    @contextlib.contextmanager
    def lanes(self, count: int) -> Iterator[Callable[[Callable[[Any], Any], Any], Any]]:
        """For a loop running `count` items at once: how to run one item in a lane of its
        own, where `get()` answers with the lane's connection (opened on first use, kept
        for the next parallel loop of the run, closed with the others)."""
        with self.lock:
            numbers = self._free_lanes[:count]
            del self._free_lanes[:count]
            while len(numbers) < count:
                self._lanes_made += 1
                numbers.append(self._lanes_made)
            self._lanes_open += 1
        import queue  # here: only a parallel loop needs it (start-up, issue 11)

        free: queue.SimpleQueue[int] = queue.SimpleQueue()
        for number in numbers:
            free.put(number)
        local = self._lane

        def run(function: Callable[[Any], Any], item: Any) -> Any:
            number = free.get()
            local.number = number
            try:
                return function(item)
            finally:
                local.number = 0
                free.put(number)

        try:
            yield run
        finally:
            with self.lock:
                self._free_lanes.extend(sorted(numbers))
                self._lanes_open -= 1

    def _get_in_lane(self, name: str, lane: int) -> Connection | OdbcConnection:
        if self.shared(name):
            self._lane.number = 0
            try:
                return self.get(name)
            finally:
                self._lane.number = lane
        key = f"{name}#{lane}"
        found = self.open.get(key)
        if found is None:
            found = self._connect(name)
            with self.lock:
                self.open[key] = found
        return found

    def _key(self, name: str) -> str:
        lane = self._lane.number
        return f"{name}#{lane}" if lane and not self.shared(name) else name

    def reset(self, name: str) -> None:
        """Drop a broken connection so the next attempt reconnects."""
        key = self._key(name)
        with self.lock:
            connection = self.open.pop(key, None)
        if connection is not None:
            with contextlib.suppress(Exception):  # it is already broken
                connection.close()

    def close_all(self) -> None:
        """Roll back whatever is still open (rehearsal, an aborted transaction) and close.
        The statements made ready go too: each refers back to this Connections, a cycle
        that would keep the run's (its masker's) objects until a full collection."""
        with self.lock:
            connections, self.open = list(self.open.values()), {}
            self.statements.clear()
        for connection in connections:
            with contextlib.suppress(Exception):  # closing must not hide the run's result
                connection.close()


def _ensure_odbc_demo(spec: ConnectionSpec, target: str, connection: OdbcConnection) -> None:
    """Build the connection's demo (`demo: wms` on PostgreSQL) on first use; a failure
    closes the connection and says which demo and connection it was."""
    from runner.databases.demo import ensure_odbc_demo

    try:
        ensure_odbc_demo(spec.demo or "", target, connection.db)
    except Exception as error:
        with contextlib.suppress(Exception):
            connection.close()
        where = f" (defined at {spec.origin})" if spec.origin else ""
        raise ConfigError(
            f"cannot build demo {spec.demo!r} on connection {spec.name!r}{where}: "
            f"{error.args[-1] if error.args else error}"
        ) from None
