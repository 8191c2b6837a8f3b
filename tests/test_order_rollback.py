"""order-rollback on the embedded demo: the batch that went wrong (databases/demo_batch.py)
is undone in one transaction, checked before commit, and nothing is half-done on failure."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from runner.databases.demo import ensure_demo
from runner.databases.demo_batch import BATCH_STAGING_IDS, QUANTITY_FACTOR, doc_id

REPO = Path(__file__).resolve().parent.parent
BATCH = list(BATCH_STAGING_IDS)
DOCS = [doc_id(staging_id) for staging_id in BATCH]
REASON = "processor 2.3.1 doubled every line's quantity"


@pytest.fixture
def demo(project: Any) -> Any:
    project.config(
        f"""
        connections:
          orders: {{sqlite: var/demo/orders.db, demo: orders}}
        state: var/runner.db
        runbooks: [{REPO / "runbooks"}]
        sql: [{REPO / "sql"}]
        """
    )
    project.orders = project.root / "var" / "demo" / "orders.db"
    ensure_demo("orders", project.orders, datetime.now(UTC))
    return project


def _query(path: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as db:
        return db.execute(sql, params).fetchall()


def _dump(path: Path) -> list[str]:
    with sqlite3.connect(path) as db:
        return list(db.iterdump())


def _batch_run_id(path: Path) -> int:
    (run_id,) = _query(
        path,
        "SELECT r.LOG_ID FROM USER_SYNC_LOG r JOIN USER_ORDER_STAGING s"
        " ON s.APPLIED_DT BETWEEN r.START_TIME AND r.END_TIME"
        " WHERE r.OPERATION_TYPE = 'order_processing' AND s.STAGING_ID = ?",
        BATCH[0],
    )[0]
    return run_id


def _expected_inventory(path: Path) -> dict[str, float]:
    """QTY_ON_SO of every item as it was before the batch: now, less the batch's lines."""
    rows = _query(
        path,
        "SELECT i.ITEM_NO, i.QTY_ON_SO - COALESCE((SELECT SUM(QTY_SOLD) FROM PS_DOC_LIN l"
        f" WHERE l.ITEM_NO = i.ITEM_NO AND l.DOC_ID IN ({', '.join('?' * len(DOCS))})), 0)"
        " FROM IM_INV i",
        *DOCS,
    )
    return dict(rows)


def _statuses(run: Any) -> dict[str, str]:
    found = {}
    for step in run.steps:
        found[step.id] = str(step.status)
        for child in step.children:
            found[child.id] = str(child.status)
    return found


def test_the_demo_batch_went_wrong_in_a_way_a_person_can_see(demo: Any) -> None:
    rows = _query(
        demo.orders,
        "SELECT s.LINE_ITEMS_JSON, l.ITEM_NO, l.QTY_SOLD, s.IS_APPLIED, s.CP_DOC_ID, l.DOC_ID"
        " FROM USER_ORDER_STAGING s JOIN PS_DOC_LIN l ON s.CP_DOC_ID = CAST(l.DOC_ID AS TEXT)"
        f" WHERE s.STAGING_ID IN ({', '.join('?' * len(BATCH))})",
        *BATCH,
    )
    assert {row[5] for row in rows} == set(DOCS)
    for staged, item, quantity, applied, _, _ in rows:
        ordered = {line["sku"]: line["quantity"] for line in json.loads(staged)}
        assert quantity == ordered[item] * QUANTITY_FACTOR and applied == 1
    # One processor run applied the whole batch, and counted it.
    (count,) = _query(
        demo.orders,
        "SELECT COUNT(*) FROM USER_ORDER_STAGING s JOIN USER_SYNC_LOG r"
        " ON s.APPLIED_DT BETWEEN r.START_TIME AND r.END_TIME WHERE r.LOG_ID = ?",
        _batch_run_id(demo.orders),
    )[0]
    ((start, processed, failed, success),) = _query(
        demo.orders,
        "SELECT START_TIME, RECORDS_PROCESSED, RECORDS_FAILED, SUCCESS FROM USER_SYNC_LOG"
        " WHERE LOG_ID = ?",
        _batch_run_id(demo.orders),
    )
    assert count == processed >= len(BATCH) and success == 1
    # It is one of the scheduled runs of the 7-day history, not a second run in its slot:
    # the processor's runs around it are 15 minutes apart.
    around = _query(
        demo.orders,
        "SELECT CAST(ROUND((julianday(START_TIME) - julianday(?)) * 1440) AS INTEGER)"
        " FROM USER_SYNC_LOG WHERE OPERATION_TYPE = 'order_processing'"
        " AND ABS(julianday(START_TIME) - julianday(?)) * 1440 < 20 ORDER BY START_TIME",
        start,
        start,
    )
    assert [minutes for (minutes,) in around] == [-15, 0, 15]
    # The processor's log tells the same run, once.
    text = "".join(p.read_text() for p in sorted((demo.orders.parent / "logs").iterdir()))
    assert text.count(f"{start} INFO Order processing started") == 1
    assert f"Order processing finished: {processed} applied, {failed} failed" in text


def test_rollback_by_run_id_undoes_the_batch_and_keeps_the_rest(demo: Any) -> None:
    run_id = _batch_run_id(demo.orders)
    expected = _expected_inventory(demo.orders)
    others = _query(
        demo.orders,
        f"SELECT * FROM PS_DOC_HDR WHERE DOC_ID NOT IN ({', '.join('?' * len(DOCS))})"
        " ORDER BY DOC_ID",
        *DOCS,
    )
    pending_before = _query(
        demo.orders, "SELECT COUNT(*) FROM USER_ORDER_STAGING WHERE IS_APPLIED = 0"
    )

    run = demo.run("order-rollback", {"run_id": run_id, "reason": REASON}, assume_yes=True)

    assert str(run.status) == "OK", [(s.id, s.error) for s in run.steps]
    assert set(_statuses(run).values()) == {"OK"}
    placeholders = ", ".join("?" * len(DOCS))
    assert _query(
        demo.orders, f"SELECT COUNT(*) FROM PS_DOC_HDR WHERE DOC_ID IN ({placeholders})", *DOCS
    ) == [(0,)]
    assert _query(
        demo.orders, f"SELECT COUNT(*) FROM PS_DOC_LIN WHERE DOC_ID IN ({placeholders})", *DOCS
    ) == [(0,)]
    staged = _query(
        demo.orders,
        "SELECT STAGING_ID, IS_APPLIED, APPLIED_DT, CP_DOC_ID, VALIDATION_ERROR"
        f" FROM USER_ORDER_STAGING WHERE STAGING_ID IN ({', '.join('?' * len(BATCH))})",
        *BATCH,
    )
    assert staged == [(staging_id, 0, None, None, None) for staging_id in BATCH]
    assert dict(_query(demo.orders, "SELECT ITEM_NO, QTY_ON_SO FROM IM_INV")) == expected
    assert (
        _query(
            demo.orders,
            f"SELECT * FROM PS_DOC_HDR WHERE DOC_ID NOT IN ({placeholders}) ORDER BY DOC_ID",
            *DOCS,
        )
        == others
    )
    pending_after = _query(
        demo.orders, "SELECT COUNT(*) FROM USER_ORDER_STAGING WHERE IS_APPLIED = 0"
    )
    assert pending_after[0][0] == pending_before[0][0] + len(BATCH)
    # QTY_ON_SO matches the documents that remain, as in the untouched demo.
    mismatched = _query(
        demo.orders,
        "SELECT i.ITEM_NO FROM IM_INV i LEFT JOIN (SELECT ITEM_NO, SUM(QTY_SOLD) AS Q"
        " FROM PS_DOC_LIN GROUP BY ITEM_NO) l USING (ITEM_NO) WHERE i.QTY_ON_SO != COALESCE(l.Q, 0)",
    )
    assert mismatched == []

    # The reason and the affected ids are in the run's record.
    with sqlite3.connect(demo.root / "var" / "runner.db") as state:
        (inputs,) = state.execute(
            "SELECT inputs_json FROM runs WHERE run_id = ?", (run.run_id,)
        ).fetchone()
        (values,) = state.execute(
            "SELECT values_json FROM step_results WHERE run_id = ? AND step_id = 'batch'",
            (run.run_id,),
        ).fetchone()
    assert json.loads(inputs)["reason"] == REASON
    assert [row["staging_id"] for row in json.loads(values)["rows"]] == BATCH


def test_the_three_ways_to_choose_the_batch_find_the_same_orders(demo: Any) -> None:
    before = _dump(demo.orders)
    (start, end) = _query(
        demo.orders,
        "SELECT START_TIME, END_TIME FROM USER_SYNC_LOG WHERE LOG_ID = ?",
        _batch_run_id(demo.orders),
    )[0]
    choices = {
        "run": {"run_id": _batch_run_id(demo.orders)},
        "window": {"applied_from": start, "applied_to": end[:-2] + "59"},
        "ids": {"staging_ids": ",".join(map(str, BATCH))},
    }
    found = {}
    for name, params in choices.items():
        run = demo.run(
            "order-rollback", {**params, "reason": REASON}, mode="rehearse", assume_yes=True
        )
        assert str(run.status) == "OK", (name, [(s.id, s.error) for s in run.steps])
        batch = run.steps[0].values["rows"]
        found[name] = [row["staging_id"] for row in batch if row["staging_id"] in BATCH]
        rollback = run.steps[2]
        counts = {child.id: child.values.get("rowcount") for child in rollback.children}
        assert counts["delete_headers"] == len(batch)
        assert counts["reset_staging"] == len(batch)
    assert found == {"run": BATCH, "window": BATCH, "ids": BATCH}
    assert _dump(demo.orders) == before  # a rehearsal changes nothing


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "choose the batch one way"),
        ({"run_id": 1, "staging_ids": "901"}, "choose the batch one way"),
        ({"applied_from": "2020-01-01 00:00:00"}, "applied_from needs applied_to"),
        ({"staging_ids": "999999"}, "no applied order matches"),
        ({"staging_ids": "901", "reason": "  "}, "say why"),
    ],
    ids=["none", "two", "open-window", "not-applied", "blank-reason"],
)
def test_a_wrong_choice_changes_nothing(demo: Any, params: dict, message: str) -> None:
    before = _dump(demo.orders)
    run = demo.run("order-rollback", {"reason": REASON, **params}, assume_yes=True)
    assert str(run.status) == "CRITICAL"
    batch = run.steps[0]
    assert any(message in e.text for e in batch.evaluations if str(e.status) != "OK"), (
        batch.evaluations
    )
    assert [str(step.status) for step in run.steps[1:]] == ["SKIPPED", "SKIPPED"]
    assert _dump(demo.orders) == before


def test_the_reason_is_required(demo: Any) -> None:
    from runner.base.errors import InputError

    before = _dump(demo.orders)
    with pytest.raises(InputError, match=r"missing input 'reason' .* add --param reason="):
        demo.run("order-rollback", {"staging_ids": "901"}, assume_yes=True)
    assert _dump(demo.orders) == before


def test_an_operator_who_says_no_changes_nothing(demo: Any) -> None:
    from runner.base.errors import ConfirmationRefused

    before = _dump(demo.orders)
    with pytest.raises(ConfirmationRefused, match="--yes"):  # no terminal to ask
        demo.run("order-rollback", {"staging_ids": "901", "reason": REASON})
    questions: list[str] = []

    def answer_no(question: str) -> str:
        questions.append(question)
        return "n"

    run = demo.run(
        "order-rollback",
        {"staging_ids": "901,902", "reason": REASON},
        interactive=True,
        ask=answer_no,
    )
    assert str(run.status) == "CRITICAL" and _statuses(run)["rollback"] == "CRITICAL"
    assert len(questions) == 1
    assert "staging ids 901, 902" in questions[0] and REASON in questions[0]
    assert _dump(demo.orders) == before


def test_a_failure_in_the_middle_rolls_everything_back(demo: Any) -> None:
    # Inventory is released and the lines deleted before the headers: fail there.
    with sqlite3.connect(demo.orders) as db:
        db.execute(
            "CREATE TRIGGER injected BEFORE DELETE ON PS_DOC_HDR"
            " BEGIN SELECT RAISE(ABORT, 'injected failure: disk I/O error'); END"
        )
    before = _dump(demo.orders)
    run = demo.run(
        "order-rollback", {"staging_ids": "901,902,903,904,905", "reason": REASON}, assume_yes=True
    )
    assert str(run.status) == "CRITICAL"
    statuses = _statuses(run)
    assert statuses["restore_inventory"] == statuses["delete_lines"] == "OK"
    assert statuses["delete_headers"] == "CRITICAL"
    assert "injected failure" in (run.steps[2].error or "")
    assert _dump(demo.orders) == before


def test_an_inventory_that_does_not_add_up_rolls_everything_back(demo: Any) -> None:
    # Someone changed QTY_ON_SO of one item between the showing and the transaction: the
    # check before commit sees it and nothing stays changed.
    with sqlite3.connect(demo.orders) as db:
        db.execute(
            "CREATE TRIGGER drift AFTER DELETE ON PS_DOC_LIN BEGIN"
            " UPDATE IM_INV SET QTY_ON_SO = QTY_ON_SO + 1 WHERE ITEM_NO = OLD.ITEM_NO; END"
        )
    before = _dump(demo.orders)
    run = demo.run("order-rollback", {"staging_ids": "901", "reason": REASON}, assume_yes=True)
    assert str(run.status) == "CRITICAL"
    assert _statuses(run)["inventory_after"] == "CRITICAL"
    assert _dump(demo.orders) == before


@pytest.mark.parametrize(
    "choice",
    [{"run_id": 7}, {"applied_from": "2026-01-01 00:00:00"}, {"staging_ids": ["901", "902"]}],
    ids=["run", "window", "ids"],
)
@pytest.mark.parametrize("dialect", ["tsql", "postgres", "mysql", "sqlite"])
def test_every_way_of_choosing_parses_in_every_dialect(choice: dict, dialect: str) -> None:
    import sqlglot

    from runner.dialects import get
    from runner.language.sqltemplates import render_sql

    inputs = {"run_id": 0, "applied_from": "", "applied_to": "2026-01-02 00:00:00"}
    folder = REPO / "sql" / (dialect if dialect != "sqlite" else "")
    text = (folder / "orders" / "rollback_batch.sql").read_text(encoding="utf-8")
    sql, params = render_sql(text, {"inputs": {**inputs, **choice}}, dialect)
    (statement,) = sqlglot.parse(sql.replace("?", "NULL"), read=get(dialect).sqlglot)
    assert type(statement).__name__ == "Select"
    assert len(params) == {"run_id": 1, "applied_from": 2, "staging_ids": 2}[next(iter(choice))]


def test_morning_check_weekly_maintenance_and_rollback_in_sequence(
    project: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seed 000's day: the morning check and the weekly maintenance read; the rollback
    changes exactly the batch. The whole database afterwards is the demo's rows with the
    batch undone, table by table."""
    import os
    import sys

    from runner.databases.demo_orders import ORDER_COLUMNS, order_rows

    project.config(
        f"""
        connections:
          orders: {{sqlite: var/demo/orders.db, demo: orders}}
        state: var/runner.db
        runbooks: [{REPO / "runbooks"}]
        sql: [{REPO / "sql"}]
        """
    )
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    now = datetime.now(UTC).replace(microsecond=0)
    path = project.root / "var" / "demo" / "orders.db"
    ensure_demo("orders", path, now)
    logs = tmp_path / "logs"
    logs.mkdir()

    health = project.run("order-health")
    weekly = project.run("order-weekly-maintenance", {"logs": str(logs)})
    rollback = project.run(
        "order-rollback", {"staging_ids": "901,902,903,904,905", "reason": REASON}, assume_yes=True
    )
    assert [str(run.status) for run in (health, weekly, rollback)] == ["CRITICAL", "OK", "OK"]

    expected = order_rows(now)
    docs = set(DOCS)
    released: dict[str, float] = {}
    for row in expected["PS_DOC_LIN"]:
        if row[0] in docs:
            released[row[2]] = released.get(row[2], 0) + row[4]
    expected["PS_DOC_HDR"] = [row for row in expected["PS_DOC_HDR"] if row[0] not in docs]
    expected["PS_DOC_LIN"] = [row for row in expected["PS_DOC_LIN"] if row[0] not in docs]
    expected["IM_INV"] = [
        (sku, loc, on_hand, on_so - released.get(sku, 0))
        for sku, loc, on_hand, on_so in expected["IM_INV"]
    ]
    columns = ORDER_COLUMNS["USER_ORDER_STAGING"]
    reset = {"IS_APPLIED": 0, "APPLIED_DT": None, "CP_DOC_ID": None, "RETRY_COUNT": 0}
    expected["USER_ORDER_STAGING"] = [
        tuple(
            reset.get(name, value) if row[0] in BATCH else value
            for name, value in zip(columns, row, strict=True)
        )
        for row in expected["USER_ORDER_STAGING"]
    ]
    for table, names in ORDER_COLUMNS.items():
        width = 2 if table in ("PS_DOC_LIN", "IM_INV") else 1  # the primary key's columns
        found = _query(
            path, f"SELECT {', '.join(names)} FROM {table} ORDER BY {', '.join(names[:width])}"
        )
        assert found == sorted(expected[table], key=lambda row, n=width: row[:n]), table
