"""Batches in one transaction on PostgreSQL and MariaDB: a loop as one transaction, a
transaction per item, savepoints for nested transactions, and parallel items each on a
connection of its own."""

from __future__ import annotations

import secrets

import pytest

from .conftest import Backend, configure

pytestmark = pytest.mark.integration

SERVERS = ("postgres", "mariadb")
SESSION = {"postgres": "pg_backend_pid()", "mysql": "CONNECTION_ID()"}
SLEEP = {"postgres": "pg_sleep(0.3)", "mysql": "SLEEP(0.3)"}


@pytest.fixture(params=SERVERS)
def server(request: pytest.FixtureRequest, project) -> Backend:
    backend: Backend = request.getfixturevalue(request.param)
    configure(project, backend)
    return backend


def _table(backend: Backend) -> str:
    name = f"t_{secrets.token_hex(4)}"
    backend.execute(f"CREATE TABLE {name} (id INTEGER PRIMARY KEY, note VARCHAR(40))")
    return name


def _ids(backend: Backend, table: str) -> list[int]:
    return [row[0] for row in backend.execute(f"SELECT id FROM {table} ORDER BY id")]


def _loop(backend: Backend, table: str, transaction: str, items: str = "[1, 2, 1, 4]") -> str:
    # the third item inserts id 1 again: the primary key refuses it
    return f"""
runbook: t
kind: processing
connection: {backend.name}
steps:
  - id: batch
    transaction: {transaction}
    for_each: {items}
    steps:
      - sql: "INSERT INTO {table} (id, note) VALUES ({{{{ item }}}} + 100, 'first')"
      - sql: "INSERT INTO {table} (id, note) VALUES ({{{{ item }}}}, 'second')"
"""


def test_a_loop_in_one_transaction_rolls_back_every_item(project, server) -> None:
    table = _table(server)
    project.runbook("t", _loop(server, table, "true"))
    run = project.run("t")
    batch = run.steps[0]
    assert str(batch.status) == "CRITICAL" and "rolled back" in batch.error
    assert [str(c.status) for c in batch.children] == ["OK", "OK", "CRITICAL"]
    assert _ids(server, table) == []  # seen from a connection of the test's own


def test_a_loop_in_one_transaction_commits_every_item(project, server) -> None:
    table = _table(server)
    project.runbook("t", _loop(server, table, "true", "[1, 2, 3]"))
    assert str(project.run("t").status) == "OK"
    assert _ids(server, table) == [1, 2, 3, 101, 102, 103]


def test_per_item_transactions_keep_the_items_that_succeeded(project, server) -> None:
    table = _table(server)
    project.runbook("t", _loop(server, table, "per_item"))
    batch = project.run("t").steps[0]
    assert batch.values == {"items": 4, "failed": 1, "succeeded": 3}
    # the failing item's first insert (id 101 again) went with it, the others stayed
    assert _ids(server, table) == [1, 2, 4, 101, 102, 104]


def test_a_nested_transaction_is_rolled_back_to_its_savepoint(project, server) -> None:
    table = _table(server)
    project.runbook(
        "t",
        f"""
runbook: t
kind: processing
connection: {server.name}
steps:
  - id: outer
    transaction: true
    steps:
      - sql: "INSERT INTO {table} (id, note) VALUES (1, 'outer')"
      - id: inner
        transaction: true
        on_error: continue
        steps:
          - sql: "INSERT INTO {table} (id, note) VALUES (2, 'inner')"
          - sql: "INSERT INTO {table} (id, note) VALUES (1, 'clash')"
      - id: keeps
        transaction: true
        steps:
          - sql: "INSERT INTO {table} (id, note) VALUES (3, 'kept savepoint')"
      - sql: "INSERT INTO {table} (id, note) VALUES (4, 'outer after')"
""",
    )
    run = project.run("t")
    inner = run.steps[0].children[1]
    assert str(inner.status) == "CRITICAL" and "rolled back" in inner.error
    assert _ids(server, table) == [1, 3, 4]


def test_parallel_items_run_on_connections_of_their_own(project, server) -> None:
    table = _table(server)
    session, sleep = SESSION[server.dialect], SLEEP[server.dialect]
    project.runbook(
        "t",
        f"""
runbook: t
connection: {server.name}
steps:
  - id: batch
    transaction: per_item
    for_each: [1, 2, 3, 4]
    concurrency: 2
    steps:
      - sql: SELECT {sleep}
      - sql: "INSERT INTO {table} (id, note) VALUES ({{{{ item }}}}, CAST({session} AS CHAR(20)))"
""",
    )
    run = project.run("t")
    assert str(run.status) == "OK", run.steps[0].error
    notes = {row[0] for row in server.execute(f"SELECT note FROM {table}")}
    assert len(notes) == 2  # two sessions, each holding its own items' transactions
