"""The lean item path of a `for_each` (engine/lean.py) ends every item exactly as the
general path does: each runbook here runs twice on the same fresh data, once the lean
way and once with the lean path switched off, and the two runs must agree on statuses,
errors, values, items kept and counted, the rows in the state store and the data left
in the database. Timings and run ids are all that may differ."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runner.base.status import Status
from runner.engine.lean import LeanLoop

#: What may differ between two runs of the same work.
TIMING = frozenset({"run_id", "started", "ended", "duration"})


def plain(value: Any) -> Any:
    """`value` (a run's as_dict(), a store row's JSON) without its timings."""
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items() if key not in TIMING}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


def stored(state: Path, run_id: str) -> list[tuple[Any, ...]]:
    """The run's step rows in the state store, timings left out."""
    with sqlite3.connect(state) as db:
        rows = db.execute(
            "SELECT seq, parent_seq, step_id, title, action, status, outcome, values_json, "
            "evaluations_json, attempts_json, attempts, error, hint, item_json, items_json "
            "FROM step_results WHERE run_id = ? ORDER BY seq",
            (run_id,),
        ).fetchall()
    return [(*row[:9], json.dumps(plain(json.loads(row[9] or "null"))), *row[10:]) for row in rows]


class Twice:
    """Runs one runbook both ways on fresh data; `data()` reads what it left."""

    def __init__(
        self,
        project: Any,
        monkeypatch: pytest.MonkeyPatch,
        reset: Callable[[], None],
        data: Callable[[], Any],
    ) -> None:
        self.project = project
        self.monkeypatch = monkeypatch
        self.reset = reset
        self.data = data

    def run(self, text: str, **options: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """(lean, general): each the run, its stored rows, the data left, and how many
        items the lean path ran."""
        self.project.runbook("t", text)
        ran: list[int] = []
        real = LeanLoop.children

        def counted(loop: LeanLoop, items: Any, *args: Any) -> Any:
            def each() -> Any:
                for item in items:
                    ran.append(1)
                    yield item

            return real(loop, each(), *args)

        outcomes = []
        for lean in (True, False):
            self.reset()
            ran.clear()
            with self.monkeypatch.context() as patch:
                patch.setattr(LeanLoop, "children", counted)
                if not lean:
                    patch.setattr(LeanLoop, "make", classmethod(lambda cls, *a, **k: None))
                run = self.project.run("t", **options)
            outcomes.append(
                {
                    "run": plain(run.as_dict()),
                    "stored": stored(self.project.root / "var" / "runner.db", run.run_id),
                    "data": self.data(),
                    "lean items": len(ran),
                    "result": run,
                }
            )
        return outcomes[0], outcomes[1]


def same(lean: dict[str, Any], general: dict[str, Any]) -> None:
    assert general["lean items"] == 0
    for key in ("run", "stored", "data"):
        assert lean[key] == general[key], key


@pytest.fixture
def twice(project, monkeypatch) -> Twice:
    rows = ", ".join(f"({i}, 0)" for i in range(1, 31))

    def reset() -> None:
        project.sql(
            "DROP TABLE IF EXISTS o",
            "CREATE TABLE o (id INTEGER PRIMARY KEY, n INT NOT NULL)",
            f"INSERT INTO o VALUES {rows}",
        )

    def data() -> list[tuple[Any, ...]]:
        return project.query("SELECT id, n FROM o ORDER BY id")

    return Twice(project, monkeypatch, reset, data)


def loop(body: str, *, transaction: str | None = "true", kind: str = "processing") -> str:
    """A runbook: the ids of `o`, then a for_each over them with `body` (indented 4)."""
    atomic = f"\n    transaction: {transaction}" if transaction else ""
    return (
        f"runbook: t\nkind: {kind}\nconnection: main\nsteps:\n"
        "  - id: ids\n    sql: SELECT id FROM o ORDER BY id\n"
        f"  - id: bump{atomic}\n    for_each: steps.ids.rows\n    as: row\n{body}"
    )


def test_a_loop_in_one_transaction_ends_the_same_both_ways(twice):
    lean, general = twice.run(loop("    sql: UPDATE o SET n = n + 1 WHERE id = {{ row.id }}\n"))
    same(lean, general)
    assert lean["lean items"] == 30
    assert lean["result"].status is Status.OK
    assert lean["data"] == [(i, 1) for i in range(1, 31)]
    bump = lean["result"].steps[1]
    assert bump.values == {"items": 30, "failed": 0, "succeeded": 30, "statements": 1}
    assert bump.children == []  # a long loop: its OK items are counted, not kept
    # the transaction's result carries the loop's counts, as a loop outside one does
    assert bump.items_summary.counts == {"OK": 30} and bump.items_summary.folded == 30


def test_a_failing_item_midway_rolls_back_the_transaction_the_same_both_ways(twice):
    lean, general = twice.run(loop(fails_at(25)))
    same(lean, general)
    run = lean["result"]
    assert run.status is Status.CRITICAL
    assert lean["data"] == [(i, 0) for i in range(1, 31)]  # every item rolled back
    bump = run.steps[1]
    assert bump.error == "bump: stopped at item id=25; rolled back"
    [item] = bump.children  # the bad one, kept
    assert item.children[0].error == "main: NOT NULL constraint failed: o.n"
    assert bump.values == {"items": 30, "failed": 1, "succeeded": 24}
    assert bump.items_summary.counts == {"OK": 24, "CRITICAL": 1}


def fails_at(*items: int) -> str:
    """A body setting n to the row's id, except at `items`: NULL, which n refuses."""
    return (
        f'    sql: "UPDATE o SET n = {{{{ none if row.id in {list(items)} else row.id }}}} '
        'WHERE id = {{ row.id }}"\n'
    )


def test_failing_items_outside_a_transaction_are_collected_the_same_both_ways(twice):
    # autocommit: each item stands; the failing ones are kept, with on_error: warning
    body = fails_at(7, 24) + '    on_error: warning\n    hint: "row {{ row.id }} failed"\n'
    lean, general = twice.run(loop(body, transaction=None))
    same(lean, general)
    bump = lean["result"].steps[1]
    assert bump.status is Status.WARNING
    assert bump.items_summary.counts == {"OK": 28, "WARNING": 2}
    assert [item.title for item in bump.children] == ["id=7", "id=24"]
    assert bump.children[1].children[0].hint == "row 24 failed"


def test_on_item_error_stop_stops_at_the_same_item_both_ways(twice):
    body = fails_at(22) + "    on_item_error: stop\n"
    lean, general = twice.run(loop(body, transaction=None))
    same(lean, general)
    assert lean["data"] == [(i, i if i < 22 else 0) for i in range(1, 31)]
    assert lean["result"].steps[1].items_summary.counts == {"OK": 21, "CRITICAL": 1}


def test_thresholds_breached_are_judged_the_same_both_ways(twice):
    body = (
        "    sql: SELECT {{ row.id }} * 2 AS v\n"
        "    thresholds:\n      v: {warning: 40, critical: 55}\n"
    )
    lean, general = twice.run(loop(body, transaction=None, kind="health-check"))
    same(lean, general)
    bump = lean["result"].steps[1]
    assert bump.status is Status.CRITICAL
    assert bump.items_summary.counts == {"OK": 20, "WARNING": 7, "CRITICAL": 3}
    assert bump.items_summary.ok_values["bump.v"]["max"] == 40
    assert lean["lean items"] == 30


def test_a_template_error_midway_ends_the_item_unknown_the_same_both_ways(twice):
    body = "    sql: SELECT {{ row.id }} AS v, {{ vars.missing[row.id] if row.id > 21 else 0 }}\n"
    lean, general = twice.run(loop(body, transaction=None, kind="health-check"))
    same(lean, general)
    assert lean["result"].steps[1].items_summary.counts["UNKNOWN"] == 9


def test_one_nested_step_and_record_all_end_the_same_both_ways(twice):
    body = (
        '    record: all\n    steps:\n      - id: touch\n        title: "touch {{ row.id }}"\n'
        "        sql: UPDATE o SET n = n + {{ row.id }} WHERE id = {{ row.id }}\n"
    )
    lean, general = twice.run(loop(body))
    same(lean, general)
    bump = lean["result"].steps[1]
    assert len(bump.children) == 30 and bump.children[29].children[0].title == "touch 30"


def test_per_item_transactions_take_the_general_path_and_end_as_before(twice):
    lean, general = twice.run(loop(fails_at(12), transaction="per_item"))
    same(lean, general)
    assert lean["lean items"] == 0
    assert lean["result"].steps[1].items_summary.counts == {"OK": 29, "CRITICAL": 1}
    assert lean["data"] == [(i, i if i != 12 else 0) for i in range(1, 31)]


def test_shapes_the_lean_path_does_not_take(twice):
    """when, until, retries outside a transaction, and --dry-run run as before."""
    update = "    sql: UPDATE o SET n = n + 1 WHERE id = {{ row.id }}\n"
    for body, options in (
        (update + "    when: row.id > 3\n", {}),
        (update + "    retry: {attempts: 2}\n", {}),
        (update, {"mode": "dry-run"}),
    ):
        lean, general = twice.run(loop(body, transaction=None), **options)
        same(lean, general)
        assert lean["lean items"] == 0, body


def test_values_the_binder_cannot_look_up_in_place_render_the_same_both_ways(twice):
    """Items whose bound values are not found by plain dict lookups (an item that is not
    a dict, a missing key) go through the full renderer, and end as on the general path;
    so does a statement with a key a dict method shadows (`row.keys`)."""
    items = "[{id: 1, by: 2}, {id: 2, by: 3}, 7, {id: 4}, {id: 5, by: 1}]"
    for sql in (
        "UPDATE o SET n = n + {{ row.by }} WHERE id = {{ row.id }}",
        "UPDATE o SET n = n + {{ row.keys }} WHERE id = {{ row.id }}",
    ):
        text = (
            f"runbook: t\nkind: processing\nconnection: main\nvars:\n  todo: {items}\n"
            "steps:\n  - id: bump\n    for_each: vars.todo\n    as: row\n"
            f"    sql: {sql}\n"
        )
        lean, general = twice.run(text)
        same(lean, general)
        assert lean["lean items"] == 5
        counts = lean["result"].steps[0].items_summary.counts
        assert counts.get("OK", 0) == (3 if "by" in sql else 0), counts


@pytest.fixture
def batches(monkeypatch) -> list[int]:
    """How many statements each batch of SQLite's (execute_many) was handed."""
    from runner.databases.connections import SqliteConnection

    ran: list[int] = []
    real = SqliteConnection.execute_many

    def counted(connection: SqliteConnection, sql: str, feed: Any) -> bool:
        ran.append(0)

        def each() -> Any:
            for taken in feed:
                ran[-1] += 1
                yield taken

        return real(connection, sql, each())

    monkeypatch.setattr(SqliteConnection, "execute_many", counted)
    return ran


#: n + 1, except at id 25, where 1 / 0 is NULL and n refuses it (a plain template, so
#: items past the first KEEP_SMALL run as one batch)
NULL_AT_25 = "    sql: UPDATE o SET n = n + 1 / (id - 25) + 1 WHERE id = {{ row.id }}\n"


def test_items_past_the_first_run_as_one_batch_and_end_the_same(twice, batches):
    body = "    sql: UPDATE o SET n = n + {{ row.id }} WHERE id = {{ row.id }}\n"
    lean, general = twice.run(loop(body))
    same(lean, general)
    assert batches == [9]  # items 22-30 (21, the first folded, runs alone; the general path none)
    assert lean["data"] == [(i, i) for i in range(1, 31)]


def test_a_failing_item_in_a_batch_rolls_back_the_same_both_ways(twice, batches):
    lean, general = twice.run(loop(NULL_AT_25))
    same(lean, general)
    assert batches == [4]  # items 22-25 taken: 25 failed in the batch
    bump = lean["result"].steps[1]
    assert bump.error == "bump: stopped at item id=25; rolled back"
    assert bump.children[0].children[0].error == "main: NOT NULL constraint failed: o.n"
    assert lean["data"] == [(i, 0) for i in range(1, 31)]


def test_a_batch_starts_again_after_a_failing_item_outside_a_transaction(twice, batches):
    lean, general = twice.run(loop(NULL_AT_25 + "    on_error: warning\n", transaction=None))
    same(lean, general)
    assert batches == [4, 4]  # 22-25, then after 25 (kept) and 26 (alone): 27-30
    bump = lean["result"].steps[1]
    assert bump.items_summary.counts == {"OK": 29, "WARNING": 1}
    assert [item.title for item in bump.children] == ["id=25"]


def test_a_template_error_in_a_batch_ends_the_item_unknown_the_same_both_ways(twice, batches):
    items = ", ".join(f"{{id: {i}}}" if i == 24 else f"{{id: {i}, by: 2}}" for i in range(1, 31))
    text = (
        f"runbook: t\nkind: processing\nconnection: main\nvars:\n  todo: [{items}]\n"
        "steps:\n  - id: bump\n    for_each: vars.todo\n    as: row\n"
        "    sql: UPDATE o SET n = n + {{ row.by }} WHERE id = {{ row.id }}\n"
    )
    lean, general = twice.run(text)
    same(lean, general)
    assert batches == [2, 5]  # 22-23 (24 did not bind: kept), 25 alone, 26-30
    counts = lean["result"].steps[0].items_summary.counts
    assert counts == {"OK": 29, "UNKNOWN": 1}, counts


def test_a_statement_timing_out_in_a_batch_ends_the_same_both_ways(twice, batches):
    slow = (
        "(WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c)"
    )
    body = (
        f"    sql: UPDATE o SET n = CASE WHEN id = 23 THEN {slow} ELSE n + 1 END"
        " WHERE id = {{ row.id }}\n    timeout: 0.2\n"
    )
    lean, general = twice.run(loop(body))
    same(lean, general)
    assert batches == [2]
    item = lean["result"].steps[1].children[0]
    assert item.children[0].error == "query on 'main' cancelled after 0.2s"
    assert item.children[0].attempts[0].outcome == "timed_out"


def test_a_batch_stops_at_a_statement_of_another_text_which_runs_alone(project):
    """`many` runs what binds to the first scope's text; a scope binding to another text
    is left unrun (False) for the caller to run with the statement itself."""
    from types import SimpleNamespace

    from runner.databases.connections import Connections
    from runner.language.config import load_config
    from runner.language.model import Origin, Step
    from runner.language.templates import InList
    from runner.steps.context import StepContext
    from runner.steps.sql import SqlConfig, SqlStep

    project.sql(
        "DROP TABLE IF EXISTS o",
        "CREATE TABLE o (id INTEGER PRIMARY KEY, n INT NOT NULL)",
        "INSERT INTO o VALUES (1, 0), (2, 0), (3, 0), (4, 0)",
    )
    connections = Connections(load_config(project.root / "runner.yaml"))
    step = Step(
        id="s",
        action="sql",
        config=SqlConfig("UPDATE o SET n = 1 WHERE id = {{ row.id }}", Origin("t")),
        origin=Origin("t"),
        connection="main",
    )
    ctx = StepContext(scope={}, timeout=5.0, services=SimpleNamespace(connections=connections))
    statement = SqlStep().prepare(step, ctx)
    statement({"row": {"id": 1}}, 5.0)  # run once: a statement that returns no rows
    rows = [{"id": 2}, {"id": 3}, {"id": InList([4])}, {"id": 4}]
    scopes = iter(({"row": row}, 5.0) for row in rows)
    assert statement.many(scopes) is False
    assert next(scopes)[0]["row"] == {"id": 4}  # the one after the stop is not taken
    connections.close_all()
    assert project.query("SELECT id, n FROM o ORDER BY id") == [(1, 1), (2, 1), (3, 1), (4, 0)]
