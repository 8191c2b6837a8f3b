"""order-processing, order-retry, order-dead-letters and order-load-test end to end on the
embedded demo, each checked in the database afterwards, not only by its exit code."""

from __future__ import annotations

import json
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from runner.cli.main import main

REPO = Path(__file__).resolve().parent.parent
PENDING = 7  # the demo's pending orders, all valid
RETRIED = {58: ("Line items missing", 2), 62: ("Invalid totals", 1)}  # failed, still retried
DEAD = {26: ("Customer not found", 6), 45: ("Item not found", 4)}  # failed > 3 times


@pytest.fixture
def demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The shipped configuration, runbooks and SQL in tmp: var/demo/orders.db lands there."""
    for name in ("runbooks", "checks", "sql"):
        shutil.copytree(REPO / name, tmp_path / name)
    shutil.copy(REPO / "runner.yaml", tmp_path / "runner.yaml")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RUNBOOK_CONFIG", raising=False)
    return tmp_path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    code = main(["run", *args, "--format", "json"])
    out = capsys.readouterr().out
    return code, json.loads(out)


def query(sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect("var/demo/orders.db")) as db:
        return db.execute(sql, params).fetchall()


def staging() -> dict[int, tuple[Any, ...]]:
    rows = query(
        "SELECT STAGING_ID, IS_APPLIED, VALIDATION_ERROR, RETRY_COUNT, CP_DOC_ID"
        " FROM USER_ORDER_STAGING"
    )
    return {row[0]: row[1:] for row in rows}


def steps(result: dict[str, Any]) -> dict[str, str]:
    return {step["id"]: step["status"] for step in result["steps"]}


def assert_inventory_matches_documents() -> None:
    """QTY_ON_SO is exactly what the open documents' lines reserve, item by item."""
    mismatched = query(
        "SELECT i.ITEM_NO, i.QTY_ON_SO, COALESCE(SUM(l.QTY_SOLD), 0) FROM IM_INV i"
        " LEFT JOIN PS_DOC_LIN l ON l.ITEM_NO = i.ITEM_NO GROUP BY i.ITEM_NO"
        " HAVING i.QTY_ON_SO <> COALESCE(SUM(l.QTY_SOLD), 0)"
    )
    assert mismatched == []


def test_processing_applies_the_pending_orders_and_rejects_the_failed(demo, capsys) -> None:
    assert main(["run", "order-health", "--format", "json"]) == 2  # builds the demo
    capsys.readouterr()
    before = staging()
    pending = [sid for sid, row in before.items() if row[0] == 0 and row[1] is None]
    assert len(pending) == PENDING
    log_before = query("SELECT MAX(LOG_ID) FROM USER_SYNC_LOG")[0][0]

    code, result = run(capsys, "order-processing")

    assert code == 1 and result["status"] == "WARNING"  # two orders rejected again
    assert steps(result) == {
        "start": "OK",
        "queue": "OK",
        "apply": "WARNING",
        "log": "OK",
        "dead_letters": "SKIPPED",  # nobody was on their last attempt
    }
    after = staging()
    for sid in pending:
        applied, error, retries, doc_id = after[sid]
        assert (applied, error, retries) == (1, None, 0) and doc_id is not None
        header = query("SELECT TKT_NO, TOT_AMT FROM PS_DOC_HDR WHERE DOC_ID = ?", int(doc_id))
        woo, total, lines = query(
            "SELECT WOO_ORDER_ID, TOT_AMT, LINE_ITEMS_JSON FROM USER_ORDER_STAGING"
            " WHERE STAGING_ID = ?",
            sid,
        )[0]
        assert header == [(f"WEB-{woo}", total)]
        written = query(
            "SELECT ITEM_NO, QTY_SOLD, PRC FROM PS_DOC_LIN WHERE DOC_ID = ? ORDER BY LIN_SEQ_NO",
            int(doc_id),
        )
        assert written == [(i["sku"], i["quantity"], i["price"]) for i in json.loads(lines)]
    for sid, (error, retries) in RETRIED.items():
        assert after[sid] == (0, error, retries + 1, None)
    for sid, (error, retries) in DEAD.items():
        assert after[sid] == (0, error, retries, None)  # dead letters are not retried
    assert_inventory_matches_documents()
    assert query(
        "SELECT OPERATION_TYPE, RECORDS_PROCESSED, RECORDS_FAILED, SUCCESS, ERROR_MESSAGE"
        " FROM USER_SYNC_LOG WHERE LOG_ID > ?",
        log_before,
    ) == [("order_processing", PENDING, 2, 1, None)]
    rejected = [
        e["text"] for s in result["steps"] for i in s["children"] for c in i["children"]
        for e in c["evaluations"] if e["status"] == "WARNING"
    ]  # fmt: skip
    assert sorted(rejected) == [
        "order 58 rejected: Line items missing",
        "order 62 rejected: Invalid totals",
    ]

    # Nothing is left to apply: a second run applies nothing and creates no document.
    documents = query("SELECT COUNT(*) FROM PS_DOC_HDR")
    run(capsys, "order-processing")
    assert query("SELECT COUNT(*) FROM PS_DOC_HDR") == documents
    # The third failure of order 58 was its fourth: a new dead letter, announced by name.
    code, result = run(capsys, "order-processing")
    dead = next(s for s in result["steps"] if s["id"] == "dead_letters")
    assert dead["status"] == "WARNING"
    assert (
        "order 62 (WooCommerce #" in dead["hint"] and "Invalid totals, 4 failures" in dead["hint"]
    )
    assert staging()[62][2] == 4


def test_an_order_that_cannot_be_written_is_rolled_back_alone(demo, capsys) -> None:
    main(["run", "order-health", "--format", "json"])
    capsys.readouterr()
    pending = sorted(sid for sid, row in staging().items() if row[0] == 0 and row[1] is None)
    victim = pending[3]  # in the middle of the batch
    (woo,) = query("SELECT WOO_ORDER_ID FROM USER_ORDER_STAGING WHERE STAGING_ID = ?", victim)[0]
    with closing(sqlite3.connect("var/demo/orders.db")) as db, db:
        # A document with the order's ticket number already exists: creating it fails
        # after the order was claimed and its header attempted.
        db.execute(
            "INSERT INTO PS_DOC_HDR VALUES (1, ?, '10001', '2026-01-01 00:00:00', 'O', 'WEB',"
            " 'WEB', 0, 0, 0)",
            (f"WEB-{woo}",),
        )
    inventory = query("SELECT ITEM_NO, QTY_ON_SO FROM IM_INV ORDER BY ITEM_NO")

    code, result = run(capsys, "order-processing")

    assert code == 2 and steps(result)["apply"] == "CRITICAL"
    assert steps(result)["log"] == "OK"  # the run goes on and logs its failure
    after = staging()
    assert after[victim] == (0, None, 0, None)  # not claimed: its transaction rolled back
    assert query("SELECT COUNT(*) FROM PS_DOC_HDR WHERE TKT_NO = ?", f"WEB-{woo}") == [(1,)]
    assert all(after[sid][0] == 1 for sid in pending if sid != victim)
    raised = dict(query("SELECT ITEM_NO, QTY_ON_SO FROM IM_INV ORDER BY ITEM_NO"))
    others = [sid for sid in pending if sid != victim]
    lines = query(
        "SELECT l.ITEM_NO, SUM(l.QTY_SOLD) FROM PS_DOC_LIN l JOIN USER_ORDER_STAGING s"
        " ON CAST(s.CP_DOC_ID AS INTEGER) = l.DOC_ID"
        f" WHERE s.STAGING_ID IN ({', '.join('?' * len(others))}) GROUP BY l.ITEM_NO",
        *others,
    )
    expected = {item: qty for item, qty in inventory}
    for item, qty in lines:
        expected[item] += qty
    assert raised == expected  # the others' quantities, and nothing of the victim's
    assert query(
        "SELECT RECORDS_PROCESSED, RECORDS_FAILED, SUCCESS FROM USER_SYNC_LOG"
        " ORDER BY LOG_ID DESC LIMIT 1"
    ) == [(PENDING - 1, 3, 0)]


def test_retry_shows_clears_and_processes_one_order(demo, capsys) -> None:
    main(["run", "order-health", "--format", "json"])
    capsys.readouterr()
    before = staging()

    # Without --yes and no terminal: refused before anything runs.
    code, result = run(capsys, "order-retry", "--param", "staging_id=26")
    assert code == 3 and result["outcome"] == "refused"
    assert staging() == before

    # The customer is created in CounterPoint, then the order is retried and applied.
    with closing(sqlite3.connect("var/demo/orders.db")) as db, db:
        db.execute("INSERT INTO AR_CUST (CUST_NO, NAM) VALUES ('10342', 'Jordan Blake')")
    code, result = run(capsys, "order-retry", "--param", "staging_id=26", "--yes")
    assert code == 0, result
    applied, error, retries, doc_id = staging()[26]
    assert (applied, error, retries) == (1, None, 6) and doc_id
    assert query("SELECT CUST_NO FROM PS_DOC_HDR WHERE DOC_ID = ?", int(doc_id)) == [("10342",)]
    assert {sid: row for sid, row in staging().items() if sid != 26} == {
        sid: row for sid, row in before.items() if sid != 26
    }  # that order alone
    assert_inventory_matches_documents()

    # An order that is still wrong fails again, with its error, and counts the attempt.
    code, result = run(capsys, "order-retry", "--param", "staging_id=45", "--yes")
    assert code == 1
    assert staging()[45] == (0, "Item not found", 5, None)
    last = result["steps"][-1]
    assert "order 45 failed again: Item not found (5 failures)" in [
        e["text"] for e in last["evaluations"]
    ]

    # An order that does not exist stops at once and asks nothing.
    code, result = run(capsys, "order-retry", "--param", "staging_id=9999", "--yes")
    assert code == 2 and steps(result)["clear"] == "SKIPPED"


def test_dead_letters_are_moved_and_one_is_requeued(demo, capsys) -> None:
    main(["run", "order-health", "--format", "json"])
    capsys.readouterr()
    before = staging()

    code, result = run(capsys, "order-dead-letters", "--yes")

    assert code == 1  # two dead letters were waiting: that is the news
    listed = next(s for s in result["steps"] if s["id"] == "list")
    assert "order 26 (WooCommerce #" in listed["hint"] and "Customer not found, 6" in listed["hint"]
    after = staging()
    assert set(before) - set(after) == set(DEAD)
    moved = query(
        "SELECT STAGING_ID, VALIDATION_ERROR, RETRY_COUNT, MOVED_BY_RUN"
        " FROM USER_ORDER_DEAD_LETTER ORDER BY STAGING_ID"
    )
    assert [row[:3] for row in moved] == [(sid, *DEAD[sid]) for sid in sorted(DEAD)]
    assert {row[3] for row in moved} == {result["run_id"]}
    code, health = run(capsys, "order-health")
    failed = next(s for s in health["steps"] if s["id"] == "failed")
    assert failed["values"]["row"]["failed_count"] == 2
    assert failed["values"]["row"]["dead_letter_count"] == 0

    code, result = run(
        capsys, "order-dead-letters", "--param", "action=requeue", "--param", "staging_id=45",
        "--yes",
    )  # fmt: skip
    assert code == 0, result
    assert staging()[45] == (0, None, 0, None)
    assert query("SELECT STAGING_ID FROM USER_ORDER_DEAD_LETTER") == [(26,)]

    # Requeuing what is not a dead letter says so.
    code, result = run(
        capsys, "order-dead-letters", "--param", "action=requeue", "--param", "staging_id=1",
        "--yes",
    )  # fmt: skip
    assert code == 2 and staging()[1] == before[1]


def test_load_test_applies_or_rejects_every_order_once(demo, capsys) -> None:
    code, result = run(capsys, "order-load-test", "--param", "count=200")
    # OK: order-processing is WARNING (it rejected the planted wrong orders, as it should),
    # and the call's assert accepts that; the check is the verdict.
    assert (
        code == 0
        and result["status"] == "OK"
        and steps(result)
        == {
            "before": "OK",
            "stage": "OK",
            "process": "OK",
            "check": "OK",
        }
    )
    process = next(s for s in result["steps"] if s["id"] == "process")
    assert (process["values"]["status"], process["values"]["runbook"]) == (
        "WARNING",
        "order-processing",
    )
    assert "WARNING" in {child["status"] for child in process["children"]}
    check = next(s for s in result["steps"] if s["id"] == "check")["values"]["row"]
    assert check["staged"] == 200 and check["applied"] == 180 and check["rejected"] == 20
    assert (check["lost"], check["applied_twice"], check["incomplete"]) == (0, 0, 0)
    assert check["orders_per_second"] > 0
    counted = query(
        "SELECT COUNT(*), SUM(IS_APPLIED) FROM USER_ORDER_STAGING WHERE WOO_ORDER_ID > 9000000"
    )
    assert counted == [(200, 180)]
    assert_inventory_matches_documents()
    # Once per demo database: a second load test is refused until `runbook demo reset`.
    code, result = run(capsys, "order-load-test", "--param", "count=5")
    assert code == 2 and steps(result)["stage"] == "SKIPPED"
    assert main(["demo", "reset", "orders"]) == 0
    capsys.readouterr()
    assert query("SELECT COUNT(*) FROM USER_ORDER_STAGING WHERE WOO_ORDER_ID > 9000000") == [(0,)]


def test_load_test_that_finds_a_wrong_order_is_critical(demo, capsys) -> None:
    """A customer gone from AR_CUST: its good synthetic orders are rejected, so the check
    fails and the run is CRITICAL, while the call of order-processing stays judged OK."""
    assert main(["demo", "reset", "orders"]) == 0
    capsys.readouterr()
    with closing(sqlite3.connect("var/demo/orders.db")) as db, db:
        db.execute("DELETE FROM AR_CUST WHERE CUST_NO = '10002'")
    code, result = run(capsys, "order-load-test", "--param", "count=40")
    assert code == 2 and result["status"] == "CRITICAL"
    assert steps(result) == {"before": "OK", "stage": "OK", "process": "OK", "check": "CRITICAL"}
    check = next(s for s in result["steps"] if s["id"] == "check")
    bad = [e["text"] for e in check["evaluations"] if e["status"] == "CRITICAL"]
    assert bad == ["3 good orders were rejected"]  # orders 1, 16 and 31 of 40 (i % 15 == 1)
