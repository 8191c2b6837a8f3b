"""order-rollback on PostgreSQL and MariaDB through ODBC, on the dialect SQL
(sql/<dialect>/orders/rollback_batch.sql): the same batch, the same row counts and the
same database afterwards as on the embedded demo seeded with the same `now`; and a
failure in the middle leaves the server's tables as they were."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from runner.databases.demo import ensure_demo
from runner.databases.demo_batch import BATCH_STAGING_IDS, doc_id
from runner.databases.demo_orders import TIME_FORMAT

from .conftest import configure, seed_orders

pytestmark = pytest.mark.integration


@pytest.fixture(params=("postgres", "mariadb"))
def backend(request: pytest.FixtureRequest) -> Any:
    """PostgreSQL and MariaDB. Not SQLite through ODBC: its driver reads an INTEGER column
    as 32 bits, and CounterPoint's DOC_IDs (103000901007) need 64."""
    return request.getfixturevalue(request.param)


@pytest.fixture
def odbc_project(project: Any, backend: Any) -> Any:
    return configure(project, backend)


REASON = "processor 2.3.1 doubled every line's quantity"
IDS = ", ".join(str(staging_id) for staging_id in BATCH_STAGING_IDS)
DOCS = ", ".join(str(doc_id(staging_id)) for staging_id in BATCH_STAGING_IDS)
STATE = {
    "staging": f"SELECT STAGING_ID, IS_APPLIED, APPLIED_DT, CP_DOC_ID FROM USER_ORDER_STAGING"
    f" WHERE STAGING_ID IN ({IDS}) ORDER BY STAGING_ID",
    "inventory": "SELECT ITEM_NO, QTY_ON_SO, QTY_ON_HND FROM IM_INV ORDER BY ITEM_NO",
    "headers": "SELECT COUNT(*), SUM(TOT_AMT) FROM PS_DOC_HDR",
    "lines": "SELECT COUNT(*), SUM(QTY_SOLD) FROM PS_DOC_LIN",
    "batch_docs": f"SELECT COUNT(*) FROM PS_DOC_HDR WHERE DOC_ID IN ({DOCS})",
    "pending": "SELECT COUNT(*) FROM USER_ORDER_STAGING WHERE IS_APPLIED = 0",
}


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.strftime(TIME_FORMAT)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, Decimal | float | int):
        return round(float(value), 6)
    return value


def _state(fetch: Any) -> dict[str, list[tuple[Any, ...]]]:
    return {
        name: [tuple(_plain(v) for v in row) for row in fetch(sql)] for name, sql in STATE.items()
    }


def _sqlite_fetch(path: Any) -> Any:
    def fetch(sql: str) -> list[tuple[Any, ...]]:
        with sqlite3.connect(path) as db:
            return db.execute(sql).fetchall()

    return fetch


def _run_id(backend: Any) -> int:
    (row,) = backend.execute(
        "SELECT r.LOG_ID FROM USER_SYNC_LOG r JOIN USER_ORDER_STAGING s"
        " ON s.APPLIED_DT >= r.START_TIME AND s.APPLIED_DT <= r.END_TIME"
        f" WHERE r.OPERATION_TYPE = 'order_processing' AND s.STAGING_ID = {BATCH_STAGING_IDS[0]}"
    )
    return int(row[0])


def _results(run: Any) -> dict[str, Any]:
    found = {}
    for step in run.steps:
        for one in (step, *step.children):
            found[one.id] = (
                str(one.status),
                one.values.get("rowcount"),
                [{k: _plain(v) for k, v in row.items()} for row in one.values.get("rows", [])],
            )
    return found


def test_order_rollback_gives_the_same_result_as_the_demo(odbc_project, backend) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    seed_orders(backend, now)
    demo_db = odbc_project.root / "var" / "demo" / "orders.db"
    ensure_demo("orders", demo_db, now)
    run_id = _run_id(backend)
    params = {"run_id": run_id, "reason": REASON}
    assert _state(backend.execute) == _state(_sqlite_fetch(demo_db))

    rehearsed = odbc_project.run(
        "order-rollback",
        params,
        mode="rehearse",
        assume_yes=True,
        connections={"orders": backend.name},
    )
    assert str(rehearsed.status) == "OK", _results(rehearsed)
    unchanged = _state(backend.execute)
    assert unchanged["batch_docs"] == [(len(BATCH_STAGING_IDS),)]

    demo = odbc_project.run("order-rollback", params, assume_yes=True)
    on_server = odbc_project.run(
        "order-rollback", params, assume_yes=True, connections={"orders": backend.name}
    )
    assert str(on_server.status) == "OK", [(s.id, s.error) for s in on_server.steps]
    assert _results(on_server) == _results(demo)
    assert _results(rehearsed) == _results(demo)
    after = _state(backend.execute)
    assert after == _state(_sqlite_fetch(demo_db))
    assert after["batch_docs"] == [(0,)]
    assert after["staging"] == [(staging_id, 0, None, None) for staging_id in BATCH_STAGING_IDS]
    assert after["pending"][0][0] == unchanged["pending"][0][0] + len(BATCH_STAGING_IDS)


def test_a_failure_in_the_middle_leaves_the_server_as_it_was(odbc_project, backend) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    seed_orders(backend, now)
    before = _state(backend.execute)
    # The lines are deleted, then the headers: a header that a later table still needs
    # makes the DELETE fail on every server, after the inventory and lines have changed.
    backend.execute("CREATE TABLE RB_KEEP_HDR (DOC_ID BIGINT REFERENCES PS_DOC_HDR (DOC_ID))")
    try:
        backend.execute(f"INSERT INTO RB_KEEP_HDR VALUES ({doc_id(BATCH_STAGING_IDS[-1])})")
        run = odbc_project.run(
            "order-rollback",
            {"staging_ids": IDS.replace(" ", ""), "reason": REASON},
            assume_yes=True,
            connections={"orders": backend.name},
        )
    finally:
        backend.execute("DROP TABLE RB_KEEP_HDR")
    statuses = {child.id: str(child.status) for child in run.steps[2].children}
    assert statuses["restore_inventory"] == statuses["delete_lines"] == "OK", statuses
    assert statuses["delete_headers"] == "CRITICAL"
    assert str(run.status) == "CRITICAL"
    assert _state(backend.execute) == before
