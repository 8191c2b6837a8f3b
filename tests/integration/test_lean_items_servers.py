"""The lean item path of a `for_each` (engine/lean.py) on PostgreSQL and MariaDB through
ODBC ends every item as the general path does: each runbook runs twice on fresh data,
the lean way and with it switched off, and the runs, the state store's rows and the
data left must agree (tests/test_lean_items.py does the same on SQLite)."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from runner.base.status import Status
from tests.test_lean_items import Twice, same

from .conftest import Backend, configure

pytestmark = pytest.mark.integration


@pytest.fixture(params=("postgres", "mariadb"))
def twice(request: pytest.FixtureRequest, project, monkeypatch) -> tuple[Twice, Backend, str]:
    server: Backend = request.getfixturevalue(request.param)
    configure(project, server)
    table = f"lean_{secrets.token_hex(4)}"
    rows = ", ".join(f"({i}, 0)" for i in range(1, 31))

    def reset() -> None:
        server.execute(f"DROP TABLE IF EXISTS {table}")
        server.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)")
        server.execute(f"INSERT INTO {table} VALUES {rows}")

    def data() -> list[tuple[Any, ...]]:
        return server.execute(f"SELECT id, n FROM {table} ORDER BY id")

    yield Twice(project, monkeypatch, reset, data), server, table
    server.execute(f"DROP TABLE IF EXISTS {table}")


def loop(server: Backend, table: str, body: str, transaction: str | None = "true") -> str:
    atomic = f"\n    transaction: {transaction}" if transaction else ""
    return (
        f"runbook: t\nkind: processing\nconnection: {server.name}\nsteps:\n"
        f"  - id: ids\n    sql: SELECT id FROM {table} ORDER BY id\n"
        f"  - id: bump{atomic}\n    for_each: steps.ids.rows\n    as: row\n{body}"
    )


def fails_at(table: str, item: int) -> str:
    """n set to the row's id, except at `item`: NULL, which n refuses."""
    return (
        f'    sql: "UPDATE {table} SET n = {{{{ none if row.id == {item} else row.id }}}} '
        'WHERE id = {{ row.id }}"\n'
    )


def test_a_loop_in_one_transaction_ends_the_same_both_ways(twice) -> None:
    runs, server, table = twice
    body = f"    sql: UPDATE {table} SET n = n + 1 WHERE id = {{{{ row.id }}}}\n"
    lean, general = runs.run(loop(server, table, body))
    same(lean, general)
    assert lean["lean items"] == 30 and lean["result"].status is Status.OK
    assert lean["data"] == [(i, 1) for i in range(1, 31)]


def test_a_failing_item_midway_rolls_back_the_same_both_ways(twice) -> None:
    runs, server, table = twice
    lean, general = runs.run(loop(server, table, fails_at(table, 25)))
    same(lean, general)
    assert lean["result"].status is Status.CRITICAL
    assert lean["data"] == [(i, 0) for i in range(1, 31)]  # every item rolled back


def test_failing_items_in_autocommit_are_collected_the_same_both_ways(twice) -> None:
    runs, server, table = twice
    body = fails_at(table, 7) + "    on_error: warning\n"
    lean, general = runs.run(loop(server, table, body, transaction=None))
    same(lean, general)
    assert lean["data"] == [(i, i if i != 7 else 0) for i in range(1, 31)]


def test_thresholds_breached_are_judged_the_same_both_ways(twice) -> None:
    runs, server, table = twice
    body = (
        f"    sql: SELECT n + {{{{ row.id }}}} * 2 AS v FROM {table} WHERE id = {{{{ row.id }}}}\n"
        "    thresholds:\n      v: {warning: 40, critical: 55}\n"
    )
    lean, general = runs.run(loop(server, table, body, transaction=None))
    same(lean, general)
    assert lean["lean items"] == 30
    assert lean["result"].steps[1].status is Status.CRITICAL


def test_per_item_transactions_end_as_before(twice) -> None:
    runs, server, table = twice
    lean, general = runs.run(loop(server, table, fails_at(table, 12), transaction="per_item"))
    same(lean, general)
    assert lean["data"] == [(i, i if i != 12 else 0) for i in range(1, 31)]
