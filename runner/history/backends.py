"""Where the state store keeps its tables: one SQLite file, or PostgreSQL shared by hosts.

StateStore (runner/state.py) speaks SQL both understand: `?` parameters, `ON CONFLICT
... DO UPDATE` upserts, the reserved word "user" quoted. A backend does what differs:
opening, the write transaction (SQLite `BEGIN IMMEDIATE`; PostgreSQL a transaction
that takes one advisory lock first, so writers from every host decide one after the
other as they do on one SQLite file), the words of the migrations' DDL (types, the
view's time arithmetic) and asking whether a table exists.

Rows come back as dicts keyed by column name from both.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

from runner import dialects
from runner.base.ending import ends_without_teardown
from runner.base.errors import ConfigError
from runner.base.masking import Masker
from runner.dialects.errors import DriverError
from runner.history.faults import StoreUnwritable, sqlite_fault, unwritable
from runner.language.config import ConnectionSpec

Row = dict[str, Any]
#: The connections of the SQLite stores closed in a process that ends with os._exit.
_LEFT_OPEN: list[sqlite3.Connection] = []
#: More are closed as usual: each holds three files open.
_MAX_LEFT_OPEN = 8
_SETTING = re.compile(r"([A-Za-z]+)\s*=\s*(\{[^}]*\}|[^;]*)")

T = TypeVar("T")


def advisory_key(name: str) -> int:
    """A signed 64-bit PostgreSQL advisory lock key for `name`, stable across hosts.

    A digest rather than hashtext(): 64 bits make two runbooks sharing a lock by
    accident practically impossible, and the key is the same whatever the server version.
    """
    digest = hashlib.sha256(f"runbook:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class Backend:
    """What StateStore needs from a database; see SqliteBackend and PostgresBackend."""

    dialect = ""
    #: Where the store is, for messages: a file path, or the connection string masked.
    display = ""
    #: Values of ${VAR} expanded into the connection string: secrets to mask.
    secrets: tuple[str, ...] = ()

    def words(self) -> Mapping[str, str]:
        """The fragments the migrations' DDL is formatted with (types, time arithmetic)."""
        raise NotImplementedError

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        raise NotImplementedError

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; how many rows it changed (-1 when the driver cannot say)."""
        raise NotImplementedError

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        raise NotImplementedError

    @contextmanager
    def write(self) -> Iterator[None]:
        """One write transaction, serialised with every other writer of the store."""
        raise NotImplementedError
        yield  # pragma: no cover

    def has_table(self, name: str) -> bool:
        raise NotImplementedError

    def name_session(self, name: str) -> None:
        """Name this connection's session on the server (a run's, see reconcile.py)."""

    def close(self) -> None:
        raise NotImplementedError


class SqliteBackend(Backend):
    """One SQLite file in WAL mode, shared by the processes of one host.

    Every write takes the write lock up front with `BEGIN IMMEDIATE`, and a busy
    timeout makes a writer wait for another instead of failing with "database is locked".
    """

    dialect = "sqlite"

    def __init__(self, path: Path, busy_timeout: float) -> None:
        self.path = Path(path)
        self.display = str(self.path)
        self._busy_timeout = busy_timeout
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(
                self.path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as exc:
            raise unwritable(self.display, str(exc), "open") from exc
        self._conn.row_factory = _dict_row
        try:
            self._prepare()
        except sqlite3.DatabaseError as exc:
            self._conn.close()
            raise _unusable(self.display, exc) from exc
        except BaseException:
            self._conn.close()
            raise

    def words(self) -> Mapping[str, str]:
        return {
            "text": "TEXT",
            "real": "REAL",
            "serial_key": "INTEGER PRIMARY KEY AUTOINCREMENT",
            "minutes_since_success": "(julianday('now') - julianday(success.ended)) * 1440.0",
            "minutes_since_finished": "(julianday('now') - julianday(finished.ended)) * 1440.0",
        }

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        with self._faults():
            return self._conn.execute(sql, params).fetchall()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        with self._faults():
            return int(self._conn.execute(sql, params).rowcount)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self._faults():
            self._conn.executemany(sql, rows)

    @contextmanager
    def _faults(self) -> Iterator[None]:
        """A damaged file, a full disk or a read-only file said as the store's fault
        (history/faults.py); any other SQLite error is left as it is (a bug)."""
        try:
            yield
        except sqlite3.Error as exc:
            fault = sqlite_fault(self.display, exc)
            if fault is None:
                raise
            raise fault from exc

    @contextmanager
    def write(self) -> Iterator[None]:
        # A deferred transaction that later writes can fail at once with "database is
        # locked" when another process wrote in between; IMMEDIATE waits its turn.
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            fault = sqlite_fault(self.display, exc)
            if fault is not None and not isinstance(fault, StoreUnwritable):
                raise fault from exc
            raise unwritable(
                self.display,
                str(exc) + (" (another process kept it busy)" if "locked" in str(exc) else ""),
            ) from exc
        try:
            yield
        except BaseException:
            with suppress(sqlite3.Error):  # a full disk may have rolled it back already
                self._conn.execute("ROLLBACK")
            raise
        self.execute("COMMIT")

    def has_table(self, name: str) -> bool:
        return bool(
            self.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,))
        )

    def close(self) -> None:
        """Close the connection, or, in a process that ends with os._exit (the `runbook`
        program, base/ending.py), leave it open until then, for the WAL to stay.

        Closing the last connection to a file in WAL mode checkpoints the WAL into the
        file, with an fsync of each, and deletes it; the next run creates it again, with
        an fsync of it and of its folder: four fsyncs a run, which on a busy disk took
        10-25 ms, more than the rest of the store's work (issue 11, point 1). When the
        connection goes with its process, the WAL stays for the next run to append to,
        and SQLite checkpoints it when it reaches 1,000 pages (wal_autocheckpoint: about
        every 65 runs of the demo's health check), so a run makes no fsync at all.

        Durability is what `synchronous = NORMAL` promises, as before: every commit is in
        the WAL before it returns, so a crash of this process (or a kill -9) loses no
        recorded run. After a power cut or a crash of the system, the runs recorded since
        the last checkpoint that the system had not written to disk yet (Linux writes
        within about 30 s) may be missing, and the file is never damaged: recovery stops
        at the first WAL frame that was not written whole. Before, the checkpoint at the
        end of each run happened to put its record on disk at once. To back the store up,
        copy runner.db-wal with runner.db (or use `sqlite3 runner.db .backup`).
        """
        if ends_without_teardown() and len(_LEFT_OPEN) < _MAX_LEFT_OPEN:
            _LEFT_OPEN.append(self._conn)
        else:
            self._conn.close()

    def _prepare(self) -> None:
        conn = self._conn
        # Switching to WAL needs a moment alone with the file; skip it when already done
        # (the mode is stored in the file) so opening never contends with writers.
        # SQLite may answer "database is locked" at once, without its busy handler, when
        # another process is switching or migrating the same new file: retry a while.
        deadline = time.monotonic() + self._busy_timeout
        while next(iter(conn.execute("PRAGMA journal_mode").fetchone().values())) != "wal":
            try:
                conn.execute("PRAGMA journal_mode = WAL")
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        conn.execute("PRAGMA synchronous = NORMAL")  # durable enough in WAL, much faster
        conn.execute("PRAGMA foreign_keys = ON")


#: The advisory lock every write transaction of a PostgreSQL store takes first.
WRITE_LOCK_KEY = advisory_key("state-store-write")
#: Marks the sessions of a run lock in pg_stat_activity: "runbook run <run id>".
LOCK_APPLICATION = "runbook run "
#: The server's TCP keepalive of each store session (seconds idle, seconds between
#: probes, probes): a host that stops answering is gone 60 + 6 x 10 = 120 s later.
KEEPALIVE = (60, 10, 6)
#: Which errors of the store's database say its connection is gone.
_POSTGRES = dialects.get("postgres")


class PostgresBackend(Backend):
    """A PostgreSQL database through ODBC that every host records into.

    Its tables live in the connection's schema (its search_path): give the store its
    own schema with `ConnSettings={SET search_path TO runbook}` if the database is
    shared with other things. One connection per store, in autocommit; a write runs
    in a transaction that first takes `pg_advisory_xact_lock(WRITE_LOCK_KEY)`, so two
    hosts deciding the same alert decide one after the other (the second sees the
    first's claim), and two hosts migrating a new database do not collide.
    """

    dialect = "postgres"

    def __init__(self, spec: ConnectionSpec, busy_timeout: float) -> None:
        self.spec = spec
        target, secrets = spec.resolve()
        self.secrets = tuple(value for value in secrets if value)
        self._target = target
        self._masker = Masker(self.secrets)
        # Masked as written too: a literal password in runner.yaml is no ${VAR}.
        self.display = _where(self._masker.mask_text(spec.target))
        self._busy_timeout = busy_timeout
        self._application = ""  # once a run starts: "runbook store <id>"
        self._conn = self._connect(target)

    def words(self) -> Mapping[str, str]:
        # COLLATE "C": ids and times are text and must sort byte-wise, as in SQLite,
        # whatever the database's locale.
        def minutes_since(column: str) -> str:
            return (
                f"CAST(EXTRACT(EPOCH FROM (CURRENT_TIMESTAMP - CAST({column} AS TIMESTAMPTZ)))"
                " / 60.0 AS DOUBLE PRECISION)"
            )

        return {
            "text": 'TEXT COLLATE "C"',
            "real": "DOUBLE PRECISION",  # PostgreSQL's REAL is 4 bytes: durations need 8
            "serial_key": "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
            "minutes_since_success": minutes_since("success.ended"),
            "minutes_since_finished": minutes_since("finished.ended"),
        }

    def connect_session(self, application: str) -> Any:
        """A new connection of its own (for a run lock), named `application` on the server."""
        conn = self._connect(self._target)
        try:
            conn.execute("SELECT set_config('application_name', ?, false)", application)
        except BaseException:
            conn.close()
            raise
        return conn

    def name_session(self, name: str) -> None:
        # Kept, and set again on a new connection after a dropped one (_connect).
        self._application = name
        self._again_if_dropped(
            lambda: self._conn.execute("SELECT set_config('application_name', ?, false)", name)
        )

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        # A read is safe to repeat: after a dropped connection, reconnect and read again.
        return self._again_if_dropped(lambda: _fetch(self._conn.execute(sql, *params)))

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return int(self._guard(lambda: self._conn.execute(sql, *params)).rowcount)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:  # pyodbc refuses an empty executemany
            self._guard(lambda: self._conn.cursor().executemany(sql, rows))

    @contextmanager
    def write(self) -> Iterator[None]:
        def take_lock() -> None:
            self._conn.autocommit = False
            self._conn.execute("SELECT pg_advisory_xact_lock(?)", WRITE_LOCK_KEY)

        try:
            # Nothing is sent before the lock, so a connection that died while the run
            # went on (a restarted server, a firewall's idle cut) is replaced here.
            self._again_if_dropped(take_lock)
            yield
        except BaseException:
            with suppress(Exception):  # the connection may be gone: the server rolls back
                self._conn.rollback()
            raise
        else:
            self._guard(self._conn.commit)
        finally:
            with suppress(Exception):
                self._conn.autocommit = True

    def has_table(self, name: str) -> bool:
        rows = self.query(
            "SELECT CASE WHEN to_regclass(?) IS NULL THEN 0 ELSE 1 END AS found", (name,)
        )
        return bool(rows and rows[0]["found"])

    def close(self) -> None:
        with suppress(Exception):
            self._conn.close()

    # -- internals -------------------------------------------------------------------

    def _connect(self, target: str) -> Any:
        pyodbc = _pyodbc()
        try:
            conn = pyodbc.connect(target, autocommit=True, timeout=max(int(self.spec.timeout), 1))
            # A write waits this long for another host's write (or a migration). And the
            # server probes the session's host when it has been quiet KEEPALIVE[0]
            # seconds, so the session of a host that died (power, network) ends within
            # about two minutes, and with it its locks and its runs (history/reconcile.py),
            # not after the kernel's two hours.
            idle, interval, count = KEEPALIVE
            conn.execute(
                "SELECT set_config('lock_timeout', ?, false), "
                "set_config('tcp_keepalives_idle', ?, false), "
                "set_config('tcp_keepalives_interval', ?, false), "
                "set_config('tcp_keepalives_count', ?, false)",
                f"{int(self._busy_timeout * 1000)}ms",
                str(idle),
                str(interval),
                str(count),
            )
            if self._application:
                conn.execute("SELECT set_config('application_name', ?, false)", self._application)
        except pyodbc.Error as exc:
            raise unwritable(self.display, self._message(exc), "open") from exc
        return conn

    def _guard(self, action: Callable[[], T]) -> T:
        pyodbc = _pyodbc()
        try:
            return action()
        except pyodbc.Error as exc:
            raise StoreUnwritable(
                f"{self.display}: the state store failed: {self._message(exc)}"
            ) from exc

    def _again_if_dropped(self, action: Callable[[], T]) -> T:
        pyodbc = _pyodbc()
        try:
            return action()
        except pyodbc.Error as exc:
            if not _POSTGRES.connection_lost(exc):
                raise StoreUnwritable(
                    f"{self.display}: the state store failed: {self._message(exc)}"
                ) from exc
        with suppress(Exception):
            self._conn.close()
        self._conn = self._connect(self._target)
        return self._guard(action)

    def _message(self, exc: BaseException) -> str:
        return self._masker.mask_text(" ".join(DriverError.of(exc).message.split()))


def open_backend(location: Path | str | ConnectionSpec, busy_timeout: float) -> Backend:
    """The backend for `state:` in runner.yaml: a file path, or an ODBC ConnectionSpec."""
    if isinstance(location, ConnectionSpec):
        if location.dialect != "postgres":
            raise ConfigError(
                f"{location.origin or 'state'}: a shared state store must be PostgreSQL, "
                f"not {location.dialect or 'an unknown dialect'}"
            )
        return PostgresBackend(location, busy_timeout)
    return SqliteBackend(Path(location), busy_timeout)


def _unusable(display: str, exc: BaseException) -> ConfigError:
    if isinstance(exc, sqlite3.Error) and (fault := sqlite_fault(display, exc)) is not None:
        return fault
    return ConfigError(
        f"{display}: cannot use the state store: {exc} "
        "(point `state:` in runner.yaml at another file, or move this one away)"
    )


def _dict_row(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> Row:
    return {column[0]: value for column, value in zip(cursor.description, row, strict=True)}


def _fetch(cursor: Any) -> list[Row]:
    if cursor.description is None:
        return []
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _pyodbc() -> Any:
    try:
        import pyodbc
    except ImportError as exc:  # pragma: no cover - a dependency, but say what to do
        raise ConfigError(
            f"a PostgreSQL state store needs pyodbc ({exc}): pip install pyodbc, and "
            "apt-get install unixodbc odbc-postgresql"
        ) from exc
    return pyodbc


def _where(target: str) -> str:
    """The store for messages: "PostgreSQL db01:5432/runbook" rather than the whole string."""
    found = {key.lower(): value.strip("{} ") for key, value in _SETTING.findall(target)}
    server = found.get("server") or found.get("servername") or found.get("host")
    if found.get("dsn") and not server:
        return f"PostgreSQL (DSN={found['dsn']})"
    if not server:
        return "PostgreSQL state store"
    port = f":{found['port']}" if found.get("port") else ""
    database = f"/{found['database']}" if found.get("database") else ""
    return f"PostgreSQL {server}{port}{database}"
