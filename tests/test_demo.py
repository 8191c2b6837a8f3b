"""The embedded order-pipeline demo database, its SQL and the order-health runbook."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from runner.databases import demo_orders
from runner.databases.demo import DEMOS, ensure_demo
from runner.databases.demo_batch import BATCH_STAGING_IDS
from runner.databases.demo_orders import VALIDATION_ERRORS
from runner.language.sqltemplates import render_sql
from runner.language.yamlload import load_file

REPO = Path(__file__).resolve().parent.parent
SQL_DIR = REPO / "sql"
HEALTH = REPO / "runbooks" / "orders" / "health.yaml"
# The health check's SQL, and the backups'. The rollback's and the maintenance's read
# their own runbooks' inputs and steps, and run end to end in tests/test_order_rollback.py
# and tests/test_order_maintenance.py.
OTHER_RUNBOOKS_SQL = ("rollback_", "weekly_")
ORDER_SQL = sorted(
    path
    for path in (SQL_DIR / "orders").glob("*.sql")
    if not path.name.startswith(OTHER_RUNBOOKS_SQL)
)
FIXED_NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path)
    db.row_factory = sqlite3.Row
    return db


def _health() -> dict:
    return load_file(HEALTH)


def _input_defaults() -> dict:
    """The inputs the SQL files read: order-health's defaults, then the other order
    runbooks' (the first default of a name wins)."""
    defaults = {name: spec["default"] for name, spec in _health()["inputs"].items()}
    for path in sorted(HEALTH.parent.glob("*.yaml")):
        for name, spec in (load_file(path).get("inputs") or {}).items():
            if "default" in spec:
                defaults.setdefault(name, spec["default"])
    return defaults


def _run_sql(db: sqlite3.Connection, name: str) -> list[dict]:
    text = (SQL_DIR / "orders" / name).read_text(encoding="utf-8")
    sql, params = render_sql(text, {"inputs": _input_defaults()})
    return [dict(row) for row in db.execute(sql, params)]


@pytest.fixture(scope="module")
def live_db(tmp_path_factory: pytest.TempPathFactory) -> sqlite3.Connection:
    """The demo built against the real clock: the SQL files compare with datetime('now')."""
    path = tmp_path_factory.mktemp("live") / "orders.db"
    ensure_demo("orders", path, datetime.now(UTC))
    db = _connect(path)
    yield db
    db.close()


@pytest.fixture(scope="module")
def fixed_db(tmp_path_factory: pytest.TempPathFactory) -> sqlite3.Connection:
    path = tmp_path_factory.mktemp("fixed") / "orders.db"
    ensure_demo("orders", path, FIXED_NOW)
    db = _connect(path)
    yield db
    db.close()


def _minutes_before_fixed_now(db: sqlite3.Connection, column: str, table: str, where: str) -> list:
    now = FIXED_NOW.strftime("%Y-%m-%d %H:%M:%S")
    query = (
        f"SELECT CAST(ROUND((julianday(?) - julianday({column})) * 1440) AS INTEGER) AS age "
        f"FROM {table} WHERE {where} ORDER BY age"
    )
    return [row["age"] for row in db.execute(query, [now])]


# --- creation ----------------------------------------------------------------------


def test_created_on_first_use_and_left_alone_afterwards(tmp_path: Path) -> None:
    path = tmp_path / "var" / "demo" / "orders.db"
    assert ensure_demo("orders", path) is True
    with _connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        # 71 orders of the health story and the 5 of the batch that went wrong (demo_batch.py)
        assert db.execute("SELECT COUNT(*) FROM USER_ORDER_STAGING").fetchone()[0] == 76
    before = path.stat().st_mtime_ns
    assert ensure_demo("orders", path) is False
    assert path.stat().st_mtime_ns == before


def test_an_empty_file_is_built_over(tmp_path: Path) -> None:
    path = tmp_path / "orders.db"
    sqlite3.connect(path).close()  # what opening the connection first leaves behind
    assert path.stat().st_size == 0
    assert ensure_demo("orders", path, FIXED_NOW) is True
    with _connect(path) as db:
        assert db.execute("SELECT COUNT(*) FROM IM_ITEM").fetchone()[0] == 25


def test_someone_elses_file_is_never_replaced(tmp_path: Path) -> None:
    path = tmp_path / "orders.db"
    path.write_text("production notes, not a database", encoding="utf-8")
    assert ensure_demo("orders", path) is False
    assert path.read_text(encoding="utf-8") == "production notes, not a database"


def test_unknown_demo_names_the_known_ones(tmp_path: Path) -> None:
    known = r"known demos are edi_metrics, orders, wms"
    with pytest.raises(ValueError, match=rf"unknown demo database 'shop': {known}"):
        ensure_demo("shop", tmp_path / "shop.db")
    assert not (tmp_path / "shop.db").exists()
    assert set(DEMOS) == {"orders", "edi_metrics", "wms"}


def test_a_failure_midway_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args: object) -> None:
        raise RuntimeError("disk full while writing USER_SYNC_LOG")

    # Schema, catalog and orders are written before the sync log: this fails halfway.
    monkeypatch.setattr(demo_orders, "_insert_sync_log", fail)
    path = tmp_path / "orders.db"
    with pytest.raises(RuntimeError, match="disk full"):
        ensure_demo("orders", path)
    assert not path.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["logs", "orders.db.lock"]

    monkeypatch.undo()
    assert ensure_demo("orders", path) is True  # and the next attempt succeeds


_CRASH = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    sys.path.insert(0, sys.argv[2])
    from runner.databases import demo, demo_orders
    demo_orders._insert_sync_log = lambda *args: os._exit(9)  # killed halfway, no clean-up
    demo.ensure_demo("orders", Path(sys.argv[1]))
    """
)


def test_a_killed_builder_leaves_no_database(tmp_path: Path) -> None:
    path = tmp_path / "orders.db"
    crash = subprocess.run(
        [sys.executable, "-c", _CRASH, str(path), str(REPO)], capture_output=True, timeout=120
    )
    assert crash.returncode == 9, crash.stderr
    assert not path.exists()
    assert ensure_demo("orders", path) is True  # and its scratch file is swept up
    assert sorted(p.name for p in tmp_path.iterdir()) == ["logs", "orders.db", "orders.db.lock"]


_RACER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    sys.path.insert(0, sys.argv[3])
    from runner.databases.demo import ensure_demo
    go = Path(sys.argv[2])
    while not go.exists():
        time.sleep(0.001)
    print(ensure_demo("orders", Path(sys.argv[1])))
    """
)


def test_racing_processes_end_with_one_good_database(tmp_path: Path) -> None:
    path = tmp_path / "demo" / "orders.db"
    go = tmp_path / "go"
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", _RACER, str(path), str(go), str(REPO)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    go.touch()  # release them together
    outputs = [racer.communicate(timeout=120) for racer in racers]
    assert [racer.returncode for racer in racers] == [0] * 4, [err for _, err in outputs]
    assert sorted(out.strip() for out, _ in outputs) == ["False", "False", "False", "True"]
    with _connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("SELECT COUNT(*) FROM PS_DOC_HDR").fetchone()[0] == 65
    assert sorted(p.name for p in path.parent.iterdir()) == ["logs", "orders.db", "orders.db.lock"]
    assert len(list((path.parent / "logs").iterdir())) > 59  # one folder, whole


def test_same_now_gives_the_same_database(tmp_path: Path) -> None:
    naive = FIXED_NOW.replace(tzinfo=None)  # naive times are taken as UTC
    paris = FIXED_NOW.astimezone(ZoneInfo("Europe/Paris"))
    dumps = []
    for index, now in enumerate((FIXED_NOW, naive, paris)):
        path = tmp_path / f"orders{index}.db"
        ensure_demo("orders", path, now)
        with sqlite3.connect(path) as db:
            dumps.append(list(db.iterdump()))
    assert dumps[0] == dumps[1] == dumps[2]
    later = tmp_path / "later.db"
    ensure_demo("orders", later, FIXED_NOW + timedelta(hours=1))
    with sqlite3.connect(later) as db:
        assert list(db.iterdump()) != dumps[0]


# --- the seeded story, at a fixed now ------------------------------------------------


def test_catalog_and_customers(fixed_db: sqlite3.Connection) -> None:
    counts = {
        table: fixed_db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        for table in ("IM_ITEM", "IM_PRC", "IM_INV", "AR_CUST")
    }
    assert counts == {"IM_ITEM": 25, "IM_PRC": 25, "IM_INV": 25, "AR_CUST": 15}
    unpriced = fixed_db.execute(
        "SELECT COUNT(*) FROM IM_ITEM i LEFT JOIN IM_PRC p USING (ITEM_NO)"
        " WHERE p.PRC_1 IS NULL OR p.PRC_1 <= 0"
    ).fetchone()[0]
    assert unpriced == 0


def test_pending_orders_are_three_fresh_and_four_stale(fixed_db: sqlite3.Connection) -> None:
    ages = _minutes_before_fixed_now(
        fixed_db, "CREATED_DT", "USER_ORDER_STAGING", "IS_APPLIED = 0 AND VALIDATION_ERROR IS NULL"
    )
    assert ages == [6, 18, 41, 75, 120, 210, 300]
    assert len([age for age in ages if age > 60]) == 4


def test_applied_orders_each_have_a_counterpoint_document(fixed_db: sqlite3.Connection) -> None:
    rows = fixed_db.execute(
        "SELECT s.STAGING_ID, s.TOT_AMT AS staged, h.TOT_AMT AS created, s.CREATED_DT,"
        " s.APPLIED_DT, h.TKT_DT, s.VALIDATION_ERROR"
        " FROM USER_ORDER_STAGING s LEFT JOIN PS_DOC_HDR h ON s.CP_DOC_ID = CAST(h.DOC_ID AS TEXT)"
        " WHERE s.IS_APPLIED = 1"
    ).fetchall()
    assert len(rows) == 60 + len(BATCH_STAGING_IDS)
    assert fixed_db.execute("SELECT COUNT(*) FROM PS_DOC_HDR").fetchone()[0] == 65
    for row in rows:
        # The batch that went wrong doubled its quantities: its totals differ, on purpose.
        assert (row["created"] == row["staged"]) != (row["STAGING_ID"] in BATCH_STAGING_IDS)
        assert row["CREATED_DT"] < row["APPLIED_DT"] == row["TKT_DT"]
        assert row["VALIDATION_ERROR"] is None
    oldest = _minutes_before_fixed_now(fixed_db, "TKT_DT", "PS_DOC_HDR", "1")[-1]
    assert 5 * 1440 < oldest <= 7 * 1440  # spread over the past week
    lines = fixed_db.execute(
        "SELECT COUNT(*) FROM PS_DOC_LIN WHERE ABS(QTY_SOLD * PRC - EXT_PRC) > 0.001"
    ).fetchone()[0]
    assert lines == 0


def test_quantity_on_order_matches_open_order_lines(fixed_db: sqlite3.Connection) -> None:
    mismatched = fixed_db.execute(
        "SELECT i.ITEM_NO FROM IM_INV i"
        " LEFT JOIN (SELECT ITEM_NO, SUM(QTY_SOLD) AS QTY FROM PS_DOC_LIN GROUP BY ITEM_NO) l"
        " USING (ITEM_NO) WHERE i.QTY_ON_SO != COALESCE(l.QTY, 0) OR i.QTY_ON_HND < i.QTY_ON_SO"
    ).fetchall()
    assert mismatched == []
    assert fixed_db.execute("SELECT SUM(QTY_ON_SO) FROM IM_INV").fetchone()[0] > 0


def test_failed_orders_are_really_wrong_in_their_own_way(fixed_db: sqlite3.Connection) -> None:
    failed = {
        row["VALIDATION_ERROR"]: row
        for row in fixed_db.execute(
            "SELECT * FROM USER_ORDER_STAGING WHERE VALIDATION_ERROR IS NOT NULL"
        )
    }
    assert sorted(failed) == sorted(VALIDATION_ERRORS)
    assert sorted(row["RETRY_COUNT"] for row in failed.values()) == [1, 2, 4, 6]
    items = {row[0] for row in fixed_db.execute("SELECT ITEM_NO FROM IM_ITEM")}
    customers = {row[0] for row in fixed_db.execute("SELECT CUST_NO FROM AR_CUST")}

    def faults(row: sqlite3.Row) -> set[str]:
        found = set()
        if row["CUST_NO"] not in customers:
            found.add("Customer not found")
        try:
            lines = json.loads(row["LINE_ITEMS_JSON"])
        except (TypeError, ValueError):
            lines = []
        if not lines:
            found.add("Line items missing")
        if any(line["sku"] not in items for line in lines):
            found.add("Item not found")
        total = row["SUBTOT"] + row["TAX_AMT"] + row["SHIP_AMT"]
        if abs(total - row["TOT_AMT"]) > 0.005:
            found.add("Invalid totals")
        return found

    for error, row in failed.items():
        assert faults(row) == {error}, row["STAGING_ID"]
        assert row["IS_APPLIED"] == 0 and row["CP_DOC_ID"] is None
    good = fixed_db.execute(
        "SELECT * FROM USER_ORDER_STAGING WHERE VALIDATION_ERROR IS NULL"
    ).fetchall()
    assert [row["STAGING_ID"] for row in good if faults(row)] == []


def test_scheduler_ran_every_15_minutes_then_stopped(fixed_db: sqlite3.Connection) -> None:
    where = "OPERATION_TYPE = 'order_processing'"
    ages = _minutes_before_fixed_now(fixed_db, "START_TIME", "USER_SYNC_LOG", where)
    assert ages[0] == 70  # the last run, then nothing
    assert ages == list(range(70, 70 + 15 * len(ages), 15))
    assert ages[-1] == 70 + 7 * 1440  # processing history for 7 days (weekly review)
    runs = fixed_db.execute(
        f"SELECT SUCCESS, ERROR_MESSAGE FROM USER_SYNC_LOG WHERE {where} ORDER BY START_TIME DESC"
    ).fetchall()
    assert runs[0]["SUCCESS"] == 0 and runs[0]["ERROR_MESSAGE"].startswith("Connection failed")
    messages = {row["ERROR_MESSAGE"].split(":")[0] for row in runs if not row["SUCCESS"]}
    assert messages == {"Connection failed", "Timeout expired"}
    assert all(row["ERROR_MESSAGE"] is None for row in runs if row["SUCCESS"])
    assert 0 < sum(1 - row["SUCCESS"] for row in runs) < len(runs) // 5
    durations = fixed_db.execute(
        "SELECT MIN(d), MAX(d) FROM (SELECT (julianday(END_TIME) - julianday(START_TIME))"
        f" * 86400 AS d FROM USER_SYNC_LOG WHERE {where})"
    ).fetchone()
    assert durations[0] > 0.5 and durations[1] < 60


# --- the SQL files ---------------------------------------------------------------------


def _threshold_columns() -> dict[str, set[str]]:
    """Columns each SQL file must return: the names the runbook's thresholds use."""
    needed: dict[str, set[str]] = {}
    for step in _health()["steps"]:
        needed.setdefault(step["sql"], set()).update(step.get("thresholds") or {})
    return needed


@pytest.mark.parametrize("path", ORDER_SQL, ids=[path.name for path in ORDER_SQL])
def test_every_sql_file_runs_on_the_demo(path: Path, live_db: sqlite3.Connection) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.startswith("-- "), "each file starts by saying what it answers"
    assert "seed" in text.split("SELECT")[0].split("WITH")[0].lower()
    sql, params = render_sql(text, {"inputs": _input_defaults()})
    assert "{{" not in sql
    cursor = live_db.execute(sql, params)
    columns = [column[0] for column in cursor.description]
    rows = cursor.fetchall()
    assert rows, "the demo gives every query something to show"
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", column) for column in columns), columns
    assert _threshold_columns().get(f"orders/{path.name}", set()) <= set(columns)


def test_inputs_become_bound_parameters() -> None:
    text = (SQL_DIR / "orders" / "pending_orders.sql").read_text(encoding="utf-8")
    sql, params = render_sql(text, {"inputs": {"stale_minutes": "60 OR 1=1"}})
    assert params == ["60 OR 1=1"] and "1=1" not in sql


def test_the_health_check_numbers(live_db: sqlite3.Connection) -> None:
    (pending,) = _run_sql(live_db, "pending_orders.sql")
    assert pending["pending_count"] == 7 and pending["stale_count"] == 4
    assert 300 <= pending["oldest_minutes"] < 305 and 6 <= pending["newest_minutes"] < 11

    (failed,) = _run_sql(live_db, "failed_orders.sql")
    assert (failed["failed_count"], failed["dead_letter_count"]) == (4, 2)
    assert failed["oldest_failed_hours"] > 24

    by_error = _run_sql(live_db, "failed_orders_by_error.sql")
    assert sorted(row["validation_error"] for row in by_error) == sorted(VALIDATION_ERRORS)
    assert sum(row["order_count"] for row in by_error) == 4
    assert sum(row["dead_letter_count"] for row in by_error) == 2

    (last,) = _run_sql(live_db, "last_processing_run.sql")
    assert 70 <= last["minutes_since_last_run"] < 75
    assert last["last_run_success"] == 0
    assert last["last_error"].startswith("Connection failed")
    assert last["minutes_since_last_success"] > last["minutes_since_last_run"]

    (history,) = _run_sql(live_db, "processing_history.sql")
    assert 85 <= history["runs_24h"] <= 96
    assert history["failed_runs_24h"] >= 17  # the outage, and perhaps a sporadic failure
    assert 0 < history["avg_seconds"] <= history["max_seconds"] < 60

    recent = _run_sql(live_db, "recent_orders.sql")
    assert 0 < len(recent) <= 20
    assert [row["tkt_dt"] for row in recent] == sorted(
        (row["tkt_dt"] for row in recent), reverse=True
    )

    dead = [row for row in _run_sql(live_db, "failed_order_list.sql") if row["is_dead_letter"]]
    assert sorted(row["validation_error"] for row in dead) == [
        "Customer not found",
        "Item not found",
    ]


def test_empty_tables_still_give_one_row_of_numbers(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    with sqlite3.connect(path) as db:
        db.executescript(demo_orders.ORDERS_SCHEMA)
    db = _connect(path)
    try:
        assert _run_sql(db, "pending_orders.sql")[0]["oldest_minutes"] == 0
        assert _run_sql(db, "failed_orders.sql")[0]["failed_count"] == 0
        assert _run_sql(db, "last_processing_run.sql")[0]["last_run_success"] == 0
        assert _run_sql(db, "processing_history.sql")[0]["runs_24h"] == 0
    finally:
        db.close()


# --- the runbook ----------------------------------------------------------------------


def test_health_runbook_shape() -> None:
    assert HEALTH.read_text(encoding="utf-8").splitlines()[0] == (
        "# yaml-language-server: $schema=../../schemas/runbook.schema.json"
    )
    doc = _health()
    assert doc["runbook"] == "order-health" and doc["kind"] == "health-check"
    assert doc["connection"] == "orders" and doc["schedule"] == "0 * * * *"
    defaults = {name: spec["default"] for name, spec in doc["inputs"].items()}
    assert defaults == {"stale_minutes": 60, "max_retries": 3}
    for step in doc["steps"]:
        assert step.get("id") and step.get("title"), step
        assert (SQL_DIR / step["sql"]).is_file(), step["sql"]
    hints = "\n".join(step.get("hint", "") for step in doc["steps"])
    for error in VALIDATION_ERRORS:
        assert f'"{error}"' in hints
    # Issue 12, point 12: each hint names the runbook that fixes or digs deeper.
    for step in doc["steps"]:
        if "hint" in step:
            assert re.search(r"runbook run order-[a-z-]+", step["hint"]), step["id"]
    assert "cp_order_processor" not in hints and "UPDATE " not in hints


def test_order_health_runs_critical_on_the_demo(project) -> None:
    project.config(
        f"""
        connections:
          orders: {{sqlite: var/demo/orders.db, demo: orders}}
        state: var/runner.db
        runbooks: [{REPO / "runbooks"}]
        sql: [{SQL_DIR}]
        """
    )
    result = project.run("order-health")
    statuses = {step.id: str(step.status) for step in result.steps}
    assert statuses == {
        "pending": "CRITICAL",
        "failed_list": "OK",
        "failed": "WARNING",
        "failed_by_error": "OK",
        "last_run": "CRITICAL",
        "history": "CRITICAL",
    }
    assert str(result.status) == "CRITICAL"
    assert (project.root / "var" / "demo" / "orders.db").stat().st_size > 0
