"""order-processing, unchanged, on PostgreSQL, MariaDB and SQLite through ODBC, on the
dialect SQL (sql/postgres/orders/, sql/mysql/orders/): the same orders applied, the same
rejected, the same documents, QTY_ON_SO and USER_SYNC_LOG line as on the embedded demo
seeded with the same `now`."""

from __future__ import annotations

import contextlib
import sqlite3
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from runner.databases.demo import ensure_demo

from .conftest import seed_orders

pytestmark = pytest.mark.integration

# What the run leaves behind, as rows of plain values (times left out: they are "now").
STATE = {
    "staging": "SELECT STAGING_ID, IS_APPLIED, VALIDATION_ERROR, RETRY_COUNT, CP_DOC_ID"
    " FROM USER_ORDER_STAGING ORDER BY STAGING_ID",
    "headers": "SELECT DOC_ID, TKT_NO, CUST_NO, SUB_TOT, TAX_AMT, TOT_AMT"
    " FROM PS_DOC_HDR ORDER BY DOC_ID",
    "lines": "SELECT DOC_ID, LIN_SEQ_NO, ITEM_NO, DESCR, QTY_SOLD, PRC, EXT_PRC"
    " FROM PS_DOC_LIN ORDER BY DOC_ID, LIN_SEQ_NO",
    "inventory": "SELECT ITEM_NO, LOC_ID, QTY_ON_SO FROM IM_INV ORDER BY ITEM_NO",
    "log": "SELECT LOG_ID, OPERATION_TYPE, RECORDS_PROCESSED, RECORDS_FAILED, SUCCESS,"
    " ERROR_MESSAGE FROM USER_SYNC_LOG WHERE LOG_ID = (SELECT MAX(LOG_ID) FROM USER_SYNC_LOG)",
}


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal | float):
        return round(float(value), 2)
    return value


def _state(rows_of: Any) -> dict[str, list[tuple[Any, ...]]]:
    return {
        name: [tuple(_plain(v) for v in row) for row in rows_of(sql)] for name, sql in STATE.items()
    }


def _reader(backend: Any) -> Any:
    """How the test reads the backend: through ODBC, except SQLite, whose ODBC driver
    reads a 64-bit DOC_ID back as 32 bits (the runner never reads it back)."""
    if backend.dialect != "sqlite":
        return backend.execute
    path = backend.odbc.split("DATABASE=")[1].split(";")[0]

    def execute(sql: str) -> list[tuple[Any, ...]]:
        with contextlib.closing(sqlite3.connect(path)) as db:
            return db.execute(sql).fetchall()

    return execute


def _statuses(run: Any) -> dict[str, str]:
    return {step.id: str(step.status) for step in run.steps}


def test_order_processing_gives_the_same_database_as_the_demo(odbc_project, backend) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    seed_orders(backend, now)
    path = odbc_project.root / "var" / "demo" / "orders.db"
    ensure_demo("orders", path, now)
    with contextlib.closing(sqlite3.connect(path)) as db:
        # Applied already (the health story's and the batch that went wrong), and the
        # valid pending orders the runs will apply.
        ((applied_before, pending),) = db.execute(
            "SELECT SUM(IS_APPLIED), SUM(IS_APPLIED = 0 AND VALIDATION_ERROR IS NULL)"
            " FROM USER_ORDER_STAGING"
        ).fetchall()
    assert pending > 0

    for _ in range(3):  # the third run turns the two retried failures into dead letters
        demo = odbc_project.run("order-processing")
        on_server = odbc_project.run("order-processing", connections={"orders": backend.name})
        bad = [
            (item.title, [(c.id, str(c.status), c.error) for c in item.children])
            for step in on_server.steps
            if step.id == "apply"
            for item in step.children
            if str(item.status) == "CRITICAL"
        ]
        assert bad == []
        assert _statuses(on_server) == _statuses(demo), [(s.id, s.error) for s in on_server.steps]
        assert [s.error for s in on_server.steps if s.id != "apply"] == [None] * 4, [
            s.attempts for s in on_server.steps
        ]

    assert _statuses(on_server) == {
        "start": "OK",
        "queue": "OK",
        "apply": "WARNING",
        "log": "OK",
        "dead_letters": "WARNING",
    }
    with contextlib.closing(sqlite3.connect(path)) as db:
        expected = _state(lambda sql: db.execute(sql).fetchall())
    assert _state(_reader(backend)) == expected

    staging = {row[0]: row[1:] for row in expected["staging"]}
    assert sum(applied for applied, *_ in staging.values()) == applied_before + pending
    failed = {row[1]: row[2] for row in staging.values() if not row[0]}
    assert failed == {
        "Customer not found": 6,
        "Item not found": 4,
        "Line items missing": 4,
        "Invalid totals": 4,
    }
    assert expected["log"][0][1:] == ("order_processing", 0, 1, 1, None)
