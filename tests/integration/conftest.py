"""Real database servers for the integration tests: PostgreSQL and MariaDB on 127.0.0.1,
and SQLite through its ODBC driver.

Each test session creates its own database on each server (a random name) and drops it
at the end, so runs never see each other's tables. A server that cannot be reached
skips its tests with the reason; in CI (CI=true) tests/conftest.py turns that skip
into a failure, because CI must prove these tests.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
PG_ADMIN = "DRIVER={PostgreSQL Unicode};SERVER=127.0.0.1;PORT=5432;DATABASE=postgres;UID=postgres"
MARIA_ADMIN = "DRIVER={MariaDB Unicode};SERVER=127.0.0.1;PORT=3306;UID=root;PWD="


@dataclass
class Backend:
    """One database the runner reaches through ODBC, and a way to look at it directly."""

    name: str  # the connection name in the test runner.yaml
    dialect: str
    odbc: str  # connection string

    def connect(self, autocommit: bool = True) -> Any:
        """A fresh connection of the test's own, not the runner's."""
        import pyodbc

        return pyodbc.connect(self.odbc, autocommit=autocommit, timeout=10)

    def execute(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with contextlib.closing(self.connect()) as db:
            cursor = db.execute(sql, *params)
            return [tuple(row) for row in cursor.fetchall()] if cursor.description else []

    def yaml(self) -> str:
        return f"{self.name}: {{odbc: {self.odbc!r}, dialect: {self.dialect}}}"


def require_pyodbc() -> Any:
    try:
        import pyodbc
    except ImportError as error:  # pragma: no cover - scripts/test installs it
        pytest.skip(f"pyodbc is not installed: {error}")
    return pyodbc


def require_driver(name: str) -> None:
    if name not in require_pyodbc().drivers():
        pytest.skip(
            f"ODBC driver {name!r} is not installed (apt-get install unixodbc odbc-postgresql "
            "odbc-mariadb libsqliteodbc tdsodbc; scripts/test does it as root)"
        )


def _admin(connection_string: str, what: str) -> Any:
    pyodbc = require_pyodbc()
    try:
        return pyodbc.connect(connection_string, autocommit=True, timeout=5)
    except pyodbc.Error as error:
        pytest.skip(f"{what} is not reachable: {error.args[-1] if error.args else error}")


@pytest.fixture(scope="session")
def postgres() -> Iterator[Backend]:
    require_driver("PostgreSQL Unicode")
    admin = _admin(PG_ADMIN, "PostgreSQL at 127.0.0.1:5432")
    database = f"runbook_it_{secrets.token_hex(4)}"
    admin.execute(f"CREATE DATABASE {database}")
    try:
        yield Backend(
            "pg", "postgres", PG_ADMIN.replace("DATABASE=postgres", f"DATABASE={database}")
        )
    finally:
        admin.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        admin.close()


@pytest.fixture(scope="session")
def mariadb() -> Iterator[Backend]:
    require_driver("MariaDB Unicode")
    admin = _admin(MARIA_ADMIN, "MariaDB at 127.0.0.1:3306")
    database = f"runbook_it_{secrets.token_hex(4)}"
    admin.execute(f"CREATE DATABASE {database}")
    try:
        yield Backend("maria", "mysql", f"{MARIA_ADMIN};DATABASE={database}")
    finally:
        admin.execute(f"DROP DATABASE IF EXISTS {database}")
        admin.close()


@pytest.fixture(scope="session")
def sqlite_odbc(tmp_path_factory: pytest.TempPathFactory) -> Backend:
    require_driver("SQLite3")
    path = tmp_path_factory.mktemp("sqliteodbc") / "orders.db"
    # The driver's default busy timeout is short; the runner and the test both connect.
    return Backend("sqliteodbc", "sqlite", f"DRIVER={{SQLite3}};DATABASE={path};Timeout=5000")


BACKENDS = ("postgres", "mariadb", "sqlite_odbc")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> Backend:
    return request.getfixturevalue(request.param)


# --- the demo order pipeline on a real server ----------------------------------------


def orders_schema(dialect: str) -> list[str]:
    """The demo's CREATE statements for `dialect`: sql/<dialect>/demo/, SQLite's from demo.py."""
    from runner.databases.demo_orders import ORDERS_SCHEMA
    from runner.dialects.scripts import split_statements

    if dialect == "sqlite":
        text = ORDERS_SCHEMA
    else:
        text = (REPO / "sql" / dialect / "demo" / "orders_schema.sql").read_text(encoding="utf-8")
    return [s for s in split_statements(text) if s.strip(" \n;")]


def seed_orders(backend: Backend, now: datetime) -> None:
    """(Re)create the demo's tables on `backend` and fill them with the demo's rows for `now`."""
    from runner.databases.demo_orders import ORDER_COLUMNS, TIME_COLUMNS, TIME_FORMAT, order_rows

    rows = order_rows(now)
    with contextlib.closing(backend.connect(autocommit=False)) as db:
        if backend.dialect == "mysql":
            # MariaDB Connector/ODBC 3.1 garbles or refuses (HY001) a text parameter over
            # 127 characters sent as UTF-16, such as LINE_ITEMS_JSON; as UTF-8 it is fine.
            db.setencoding(encoding="utf-8")
        for table in reversed(list(ORDER_COLUMNS)):  # children first, for foreign keys
            with contextlib.suppress(Exception):
                db.execute(f"DROP TABLE {table}")
                db.commit()
            db.rollback()
        for statement in orders_schema(backend.dialect):
            db.execute(statement)
        db.commit()
        for table, columns in ORDER_COLUMNS.items():
            convert: list[Callable[[Any], Any]] = [
                (lambda v: v if v is None else datetime.strptime(v, TIME_FORMAT))
                if column in TIME_COLUMNS and backend.dialect != "sqlite"
                else (lambda v: v)
                for column in columns
            ]
            values = [tuple(f(v) for f, v in zip(convert, row, strict=True)) for row in rows[table]]
            if not values:  # USER_ORDER_DEAD_LETTER starts empty
                continue
            cursor = db.cursor()
            insert = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
            cursor.executemany(insert, values)
        db.commit()


def configure(project: Any, *backends: Backend, extra: str = "") -> Any:
    """Point `project`'s runner.yaml at the embedded demo (`orders`) and `backends`."""
    lines = "\n".join(f"  {b.yaml()}" for b in backends)
    project.write(
        "runner.yaml",
        "connections:\n"
        "  orders: {sqlite: var/demo/orders.db, demo: orders}\n"
        f"{lines}\n"
        "state: var/runner.db\n"
        f"runbooks: [runbooks, {REPO / 'runbooks'}]\n"
        f"sql: [sql, {REPO / 'sql'}]\n" + extra,
    )
    return project


@pytest.fixture
def odbc_project(project: Any, backend: Backend) -> Any:
    """A project whose runner.yaml names the embedded demo and the backend under test."""
    return configure(project, backend)
