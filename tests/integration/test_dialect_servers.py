"""What each dialect declares, checked on its real server through ODBC: savepoints,
quoted identifiers, statements that commit by themselves, a cancelled statement."""

from __future__ import annotations

import contextlib
import secrets
import threading

import pytest

from runner.base.abort import RunAbort
from runner.base.errors import Aborted
from runner.dialects import get

from .conftest import Backend

pytestmark = pytest.mark.integration


def test_savepoints_and_quoted_names_as_the_dialect_spells_them(backend: Backend) -> None:
    dialect = get(backend.dialect)
    table = dialect.quote(f'rb_{secrets.token_hex(3)} "odd`]')  # every quote character
    with contextlib.closing(backend.connect(autocommit=False)) as db:
        db.execute(f"CREATE TABLE {table} (id INTEGER)")
        db.commit()
        try:
            db.execute(f"INSERT INTO {table} VALUES (1)")
            db.execute(dialect.savepoint("sp1"))
            db.execute(f"INSERT INTO {table} VALUES (2)")
            db.execute(dialect.rollback_to("sp1"))
            if dialect.release("sp1"):
                db.execute(dialect.release("sp1"))
            db.execute(dialect.savepoint("sp1"))  # the same name again, as nesting does
            db.execute(f"INSERT INTO {table} VALUES (3)")
            db.commit()
            rows = db.execute(f"SELECT id FROM {table} ORDER BY id").fetchall()
            assert [tuple(row) for row in rows] == [(1,), (3,)]
        finally:
            db.rollback()
            db.execute(f"DROP TABLE {table}")
            db.commit()


def test_statements_commit_by_themselves_where_the_dialect_says(backend: Backend) -> None:
    dialect = get(backend.dialect)
    kept, other = (f"rb_{secrets.token_hex(3)}" for _ in range(2))
    create = f"CREATE TABLE {other} (id INTEGER)"
    with contextlib.closing(backend.connect(autocommit=False)) as db:
        db.execute(f"CREATE TABLE {kept} (id INTEGER)")
        db.commit()
        try:
            db.execute(f"INSERT INTO {kept} VALUES (1)")
            db.execute(create)
            db.rollback()  # of the insert too, unless the CREATE committed it
            committed = db.execute(f"SELECT COUNT(*) FROM {kept}").fetchone()[0] == 1
            assert committed is (dialect.implicit_commit(create) is not None)
        finally:
            db.rollback()
            for table in (kept, other):
                with contextlib.suppress(Exception):
                    db.execute(f"DROP TABLE {table}")
                    db.commit()


def test_a_statement_cancelled_on_postgres_reads_as_cancelled(postgres: Backend) -> None:
    import pyodbc

    dialect = get("postgres")
    with contextlib.closing(postgres.connect()) as db:
        cursor = db.cursor()
        timer = threading.Timer(0.3, cursor.cancel)
        timer.start()
        try:
            with pytest.raises(pyodbc.Error) as raised:
                cursor.execute("SELECT pg_sleep(30)")
        finally:
            timer.cancel()
            # cancel() does not wait for a cancel under way: closing the connection
            # while the timer thread is still in SQLCancel crashed the process
            timer.join()
    assert raised.value.args[0] in dialect.cancelled_sqlstates
    abort = RunAbort()
    abort.abort("the test")
    aborted = dialect.classify("pg", raised.value, 30, abort=abort)
    assert type(aborted) is Aborted and aborted.by == "the test"
