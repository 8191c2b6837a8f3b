"""Batches in one transaction on real SQLite files: a `for_each` as one transaction, a
loop with a transaction per item, groups nested in a transaction as savepoints, and what
`validate` refuses because one connection cannot run it."""

from __future__ import annotations

from typing import Any

import pytest

from runner.base.status import Status
from tests.test_validate import problems_of


@pytest.fixture
def orders(project):
    project.sql(
        "CREATE TABLE o (id INTEGER PRIMARY KEY, state TEXT NOT NULL)",
        "INSERT INTO o VALUES (1, 'new'), (2, 'new'), (3, 'new'), (4, 'new')",
        "CREATE TABLE log (note TEXT NOT NULL)",
    )
    return project


# item 3 fails: its new state is NULL, which the NOT NULL column refuses
LOOP_BODY = (
    "\n    for_each: [1, 2, 3, 4]\n    as: order_id\n"
    "    sql: \"UPDATE o SET state = {{ 'done' if order_id != 3 else none }} "
    'WHERE id = {{ order_id }}"\n'
)


def states(project) -> list[str]:
    return [row[0] for row in project.query("SELECT state FROM o ORDER BY id")]


def test_a_loop_in_one_transaction_rolls_back_every_item_when_one_fails(orders):
    orders.runbook(
        "t",
        "runbook: t\nkind: processing\nconnection: main\nsteps:\n  - id: batch\n"
        "    transaction: true" + LOOP_BODY,
    )
    run = orders.run("t")
    batch = run.steps[0]
    assert batch.status is Status.CRITICAL
    assert states(orders) == ["new", "new", "new", "new"]  # items 1 and 2 rolled back too
    assert "rolled back" in (batch.error or "")
    # the first failing item ends the loop: item 4 is not run on a doomed transaction
    assert [c.status for c in batch.children] == [Status.OK, Status.OK, Status.CRITICAL]


def test_a_loop_in_one_transaction_commits_once_when_every_item_succeeds(orders):
    orders.runbook(
        "t",
        "runbook: t\nkind: processing\nconnection: main\nsteps:\n  - id: batch\n"
        "    transaction: true\n    for_each: [1, 2, 4]\n    as: order_id\n"
        "    sql: UPDATE o SET state = 'done' WHERE id = {{ order_id }}\n",
    )
    run = orders.run("t")
    assert run.status is Status.OK, run.steps[0].error
    assert run.steps[0].values["items"] == 3
    assert states(orders) == ["done", "done", "new", "done"]


def test_per_item_transactions_keep_the_items_that_succeeded(orders):
    orders.runbook(
        "t",
        "runbook: t\nkind: processing\nconnection: main\nsteps:\n  - id: batch\n"
        "    transaction: per_item\n    for_each: [1, 2, 3, 4]\n    as: order_id\n    steps:\n"
        "      - sql: INSERT INTO log VALUES ('item ' || {{ order_id }})\n"
        "      - sql: \"UPDATE o SET state = {{ 'done' if order_id != 3 else none }} "
        'WHERE id = {{ order_id }}"\n',
    )
    run = orders.run("t")
    batch = run.steps[0]
    assert batch.status is Status.CRITICAL
    assert batch.values == {"items": 4, "failed": 1, "succeeded": 3}
    assert states(orders) == ["done", "done", "new", "done"]
    # item 3's first statement was rolled back with its second: all or nothing per item
    assert orders.query("SELECT note FROM log ORDER BY note") == [
        ("item 1",),
        ("item 2",),
        ("item 4",),
    ]
    assert "rolled back" in (batch.children[2].error or "")


def test_a_group_holding_a_loop_is_one_transaction(orders):
    orders.runbook(
        "t",
        "runbook: t\nkind: processing\nconnection: main\nsteps:\n  - id: tx\n"
        "    transaction: true\n    steps:\n"
        "      - sql: INSERT INTO log VALUES ('started')\n"
        "      - id: batch" + LOOP_BODY.replace("\n    ", "\n        "),
    )
    run = orders.run("t")
    assert run.steps[0].status is Status.CRITICAL
    assert "rolled back" in (run.steps[0].error or "")
    assert states(orders) == ["new", "new", "new", "new"]
    assert orders.query("SELECT COUNT(*) FROM log") == [(0,)]
    assert run.outcome == "completed"


def test_a_group_holding_a_loop_commits_everything_when_it_succeeds(orders):
    orders.runbook(
        "t",
        "runbook: t\nkind: processing\nconnection: main\nsteps:\n  - id: tx\n"
        "    transaction: true\n    steps:\n"
        "      - sql: INSERT INTO log VALUES ('started')\n"
        "      - for_each: [1, 2]\n        sql: UPDATE o SET state = 'done' WHERE id = {{ item }}\n"
        "      - steps:\n          - sql: INSERT INTO log VALUES ('plain group')\n",
    )
    run = orders.run("t")
    assert run.status is Status.OK, run.steps[0].error
    assert states(orders) == ["done", "done", "new", "new"]
    assert orders.query("SELECT COUNT(*) FROM log") == [(2,)]


NESTED = """
runbook: t
kind: processing
connection: main
steps:
  - id: outer
    transaction: true
    steps:
      - sql: INSERT INTO log VALUES ('outer before')
      - id: inner
        transaction: true
        {on_error}
        steps:
          - sql: INSERT INTO log VALUES ('inner')
          - sql: INSERT INTO log VALUES (NULL)
      - sql: INSERT INTO log VALUES ('outer after')
"""


def test_a_nested_transaction_that_fails_is_rolled_back_to_its_savepoint(orders):
    orders.runbook("t", NESTED.replace("{on_error}", "on_error: continue"))
    run = orders.run("t")
    outer = run.steps[0]
    inner = outer.children[1]
    assert inner.status is Status.CRITICAL and "rolled back" in (inner.error or "")
    assert orders.query("SELECT note FROM log ORDER BY rowid") == [
        ("outer before",),
        ("outer after",),
    ]
    assert run.status is Status.CRITICAL  # the inner failure is still reported


def test_a_nested_transaction_that_fails_rolls_back_the_outer_one_by_default(orders):
    orders.runbook("t", NESTED.replace("{on_error}", ""))
    run = orders.run("t")
    assert run.steps[0].status is Status.CRITICAL
    assert orders.query("SELECT COUNT(*) FROM log") == [(0,)]


def test_nested_transactions_commit_together(orders):
    orders.runbook(
        "t", NESTED.replace("{on_error}", "").replace("VALUES (NULL)", "VALUES ('inner 2')")
    )
    run = orders.run("t")
    assert run.status is Status.OK, run.steps[0].error
    assert orders.query("SELECT COUNT(*) FROM log") == [(4,)]


def test_a_dry_run_of_a_loop_in_a_transaction_runs_nothing(orders):
    orders.runbook(
        "t",
        "runbook: t\nkind: processing\nconnection: main\nsteps:\n  - id: batch\n"
        "    transaction: true" + LOOP_BODY,
    )
    run = orders.run("t", mode="dry-run")
    assert run.steps[0].status is Status.SKIPPED
    assert states(orders) == ["new", "new", "new", "new"]


def test_a_rehearsal_of_a_loop_in_a_transaction_changes_nothing(orders):
    orders.runbook(
        "t",
        "runbook: t\nkind: processing\nconnection: main\nsteps:\n  - id: batch\n"
        "    transaction: true\n    for_each: [1, 2]\n"
        "    sql: UPDATE o SET state = 'done' WHERE id = {{ item }}\n",
    )
    run = orders.run("t", mode="rehearse")
    assert run.status is Status.OK, run.steps[0].error
    assert states(orders) == ["new", "new", "new", "new"]


def test_a_loop_in_one_transaction_sends_one_commit(orders, monkeypatch):
    from runner.databases.connections import SqliteConnection

    sent: list[str] = []
    real = SqliteConnection.commit

    def commit(self: Any) -> None:
        sent.append(f"commit at depth {self.depth}")
        real(self)

    monkeypatch.setattr(SqliteConnection, "commit", commit)
    orders.runbook(
        "t",
        "runbook: t\nkind: processing\nconnection: main\nsteps:\n  - id: batch\n"
        "    transaction: true\n    for_each: [1, 2, 3, 4]\n"
        "    sql: UPDATE o SET state = 'done' WHERE id = {{ item }}\n",
    )
    assert orders.run("t").status is Status.OK
    assert sent == ["commit at depth 1"]


# --- what validate refuses -------------------------------------------------------------

TWO = """
connections:
  main: {sqlite: data.db}
  other: {sqlite: data.db}
state: var/runner.db
"""


def test_validate_refuses_a_transaction_over_two_connections(project):
    project.config(TWO)
    found = problems_of(
        project,
        "runbook: t\nconnection: main\nsteps:\n  - id: tx\n    transaction: true\n    steps:\n"
        "      - sql: SELECT 1\n      - sql: SELECT 2\n        connection: other\n",
    )
    assert found == [
        "runbooks/t.yaml:9:21: error: steps[0].steps[1].connection: this step runs on "
        "connection 'other', but its transaction (steps[0]) runs on 'main' (a transaction "
        "holds one connection: move the step out of the transaction, or use one connection)"
    ]


def test_validate_refuses_parallel_items_in_one_transaction(project):
    found = problems_of(
        project,
        "runbook: t\nconnection: main\nsteps:\n  - id: a\n    transaction: true\n"
        "    for_each: [1, 2]\n    concurrency: 2\n    sql: SELECT {{ item }}\n"
        "  - id: b\n    transaction: true\n    steps:\n      - for_each: [1, 2]\n"
        "        concurrency: 4\n        sql: SELECT {{ item }}\n",
    )
    assert found == [
        "runbooks/t.yaml:7:18: error: steps[0].concurrency: the items of a loop in one "
        "transaction cannot run in parallel: one connection runs one statement at a time "
        "(remove `concurrency`, or use `transaction: per_item` to give each item its own)",
        "runbooks/t.yaml:13:22: error: steps[1].steps[0].concurrency: the items of a loop in "
        "one transaction cannot run in parallel: one connection runs one statement at a time "
        "(remove `concurrency`, or use `transaction: per_item` to give each item its own)",
    ]


def test_validate_refuses_per_item_without_a_loop_and_other_steps_in_a_transaction(project):
    found = problems_of(
        project,
        "runbook: t\nconnection: main\nsteps:\n  - id: a\n    transaction: per_item\n"
        "    steps:\n      - sql: SELECT 1\n  - id: b\n    transaction: true\n"
        "    for_each: [1]\n    command: [echo, '{{ item }}']\n",
    )
    assert found == [
        "runbooks/t.yaml:5:18: error: steps[0].transaction: `transaction: per_item` only has "
        "a meaning beside for_each (a group is all or nothing: `transaction: true`)",
        "runbooks/t.yaml:8:5: error: steps[1]: only sql steps can run inside a transaction",
    ]


def test_validate_accepts_the_shapes_the_engine_runs(project):
    project.config(TWO)
    assert (
        problems_of(
            project,
            "runbook: t\nconnection: main\nsteps:\n  - id: a\n    transaction: true\n"
            "    for_each: [1, 2]\n    sql: SELECT {{ item }}\n"
            "  - id: b\n    transaction: per_item\n    for_each: [1, 2]\n    concurrency: 2\n"
            "    connection: other\n    steps:\n      - sql: SELECT {{ item }}\n"
            "      - transaction: true\n        steps:\n          - sql: SELECT 2\n",
        )
        == []
    )


# --- SQL Server: the statements sent, through a recording stand-in for pyodbc ------------


class _Recorded:
    """A stand-in for the pyodbc module: every connection writes what it is sent to `log`;
    a statement containing FAIL raises a constraint violation as SQL Server reports it."""

    class Error(Exception):
        pass

    def __init__(self) -> None:
        self.log: list[str] = []

    def drivers(self) -> list[str]:
        return ["ODBC Driver 18 for SQL Server"]

    def connect(self, target: str, autocommit: bool, timeout: int) -> Any:
        return _RecordedDb(self)


class _RecordedDb:
    def __init__(self, module: _Recorded) -> None:
        self.module, self._autocommit = module, True

    @property
    def autocommit(self) -> bool:
        return self._autocommit

    @autocommit.setter
    def autocommit(self, value: bool) -> None:
        self._autocommit = value
        if not value:
            self.module.log.append("(autocommit off: the transaction begins)")

    def execute(self, sql: str, *params: Any) -> Any:
        self.module.log.append(sql)
        return self

    def cursor(self) -> Any:
        return _RecordedCursor(self.module)

    def commit(self) -> None:
        self.module.log.append("COMMIT")

    def rollback(self) -> None:
        self.module.log.append("ROLLBACK")

    def close(self) -> None:
        pass


class _RecordedCursor:
    description = None
    rowcount = 1
    messages: list[Any] = []

    def __init__(self, module: _Recorded) -> None:
        self.module = module

    def execute(self, sql: str, *params: Any) -> Any:
        self.module.log.append(sql.strip())
        if "FAIL" in sql:
            raise _Recorded.Error(
                "23000", "[23000] Violation of PRIMARY KEY constraint (2627) (SQLExecDirectW)"
            )
        return self

    def nextset(self) -> bool:
        return False

    def fetchall(self) -> list[Any]:
        return []

    def cancel(self) -> None:
        pass

    def close(self) -> None:
        pass


def test_sql_server_nests_transactions_as_save_transaction(project, monkeypatch):
    import sys

    recorded = _Recorded()
    monkeypatch.setitem(sys.modules, "pyodbc", recorded)
    project.config(
        "connections:\n  mssql: {odbc: 'DRIVER={ODBC Driver 18 for SQL Server};SERVER=127.0.0.1',"
        " dialect: tsql}\nstate: var/runner.db\n"
    )
    project.runbook(
        "t",
        "runbook: t\nkind: processing\nconnection: mssql\nsteps:\n  - id: outer\n"
        "    transaction: true\n    steps:\n      - sql: UPDATE a SET x = 1\n"
        "      - id: inner\n        transaction: true\n        on_error: continue\n"
        "        steps:\n          - sql: UPDATE b SET x = 2\n          - sql: UPDATE FAIL\n"
        "      - id: kept\n        transaction: true\n        steps:\n"
        "          - sql: UPDATE c SET x = 3\n"
        "      - for_each: [1, 2]\n        sql: UPDATE d SET x = {{ item }}\n",
    )
    run = project.run("t")
    assert run.steps[0].children[1].status is Status.CRITICAL
    assert recorded.log == [
        "(autocommit off: the transaction begins)",
        "UPDATE a SET x = 1",
        "SAVE TRANSACTION sp1",
        "UPDATE b SET x = 2",
        "UPDATE FAIL",
        "ROLLBACK TRANSACTION sp1",
        "SAVE TRANSACTION sp1",  # SQL Server has no RELEASE: a savepoint lasts till COMMIT
        "UPDATE c SET x = 3",
        "UPDATE d SET x = ?",
        "UPDATE d SET x = ?",
        "COMMIT",
    ]
