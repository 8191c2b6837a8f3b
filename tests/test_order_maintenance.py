"""order-weekly-maintenance, order-backup and order-backup-check end to end on the demo,
checking the database, the files and the runner's history afterwards."""

from __future__ import annotations

import os
import sqlite3
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from runner.databases.demo import ensure_demo

REPO = Path(__file__).resolve().parent.parent
DAY = 86400


@pytest.fixture
def demo(project: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    project.config(
        f"""
        connections:
          orders: {{sqlite: var/demo/orders.db, demo: orders}}
        state: var/runner.db
        runbooks: [{REPO / "runbooks"}]
        sql: [{REPO / "sql"}]
        retention: {{days: 30, keep: 1}}
        """
    )
    project.orders = project.root / "var" / "demo" / "orders.db"
    ensure_demo("orders", project.orders, datetime.now(UTC))
    # The prune step runs `runbook`, the console script installed beside this Python.
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    return project


def _log(folder: Path, name: str, days_old: float) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{name}: INFO processed 3 orders\n", encoding="utf-8")
    moment = time.time() - days_old * DAY
    os.utime(path, (moment, moment))
    return path


def _steps(run: Any) -> dict[str, Any]:
    return {step.id: step for step in run.steps}


# --- weekly maintenance ------------------------------------------------------------------


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    folder = tmp_path / "processor-logs"
    for name, age in [
        ("woo_order_processing_20260101.log", 61),
        ("woo_order_processing_20260115.log", 45),
        ("woo_order_processing_20260130.log", 31),
        ("woo_order_processing_20260203.log", 27),
        ("woo_order_processing_20260301.log", 0.2),
        ("notes.txt", 90),  # not a log: never touched
    ]:
        _log(folder, name, age)
    return folder


def test_weekly_maintenance_on_the_demo(demo: Any, logs: Path) -> None:
    # An old run of another runbook, for retention to remove (days: 30, keep: 1).
    for _ in range(2):
        demo.run("order-backup-check")
    with sqlite3.connect(demo.root / "var" / "runner.db") as state:
        state.execute(
            "UPDATE runs SET started = '2020-01-01T00:00:00.000000Z'"
            " WHERE run_id = (SELECT MIN(run_id) FROM runs)"
        )
        runs_before = state.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    before = sorted(p.name for p in logs.iterdir())

    rehearsed = demo.run("order-weekly-maintenance", {"logs": str(logs)}, mode="rehearse")
    old = _steps(rehearsed)["old_logs"].values
    assert old["files"] == [
        "woo_order_processing_20260101.log",
        "woo_order_processing_20260115.log",
        "woo_order_processing_20260130.log",
    ]
    assert sorted(p.name for p in logs.iterdir()) == before  # listed, not deleted
    dry = demo.run("order-weekly-maintenance", {"logs": str(logs)}, mode="dry-run")
    assert _steps(dry)["old_logs"].rendered["files"] == old["files"]
    assert sorted(p.name for p in logs.iterdir()) == before

    run = demo.run("order-weekly-maintenance", {"logs": str(logs)})
    steps = _steps(run)
    assert {k: str(v.status) for k, v in steps.items()} == {
        "failed_orders": "OK",
        "old_logs": "OK",
        "performance": "OK",
        "prune_history": "OK",
    }, {k: v.error for k, v in steps.items()}
    # FIND_FAILED_ORDERS: the demo's four failed orders, two of them dead letters.
    failed = steps["failed_orders"].values["rows"]
    assert len(failed) == 4 and sum(bool(row["is_dead_letter"]) for row in failed) == 2
    assert sorted(p.name for p in logs.iterdir()) == [
        "notes.txt",
        "woo_order_processing_20260203.log",
        "woo_order_processing_20260301.log",
    ]
    assert steps["old_logs"].values["count"] == 3
    performance = steps["performance"].values["row"]
    with sqlite3.connect(demo.orders) as db:
        expected = db.execute(
            "SELECT COUNT(*), MAX(CAST(ROUND((julianday(END_TIME) - julianday(START_TIME))"
            " * 86400) AS INTEGER)) FROM USER_SYNC_LOG WHERE OPERATION_TYPE = 'order_processing'"
            " AND START_TIME >= datetime('now', '-7 days')"
        ).fetchone()
    assert (performance["total_runs"], performance["max_seconds"]) == expected
    assert 0 < performance["avg_seconds"] <= performance["max_seconds"] < 60
    assert "removed 1 run" in steps["prune_history"].values["stdout"]
    with sqlite3.connect(demo.root / "var" / "runner.db") as state:
        dates = [row[0] for row in state.execute("SELECT started FROM runs")]
    assert len(dates) == runs_before - 1 + 2  # pruned one; the rehearsal and this run added
    assert not any(date.startswith("2020") for date in dates)


def test_slow_processing_is_a_warning(demo: Any, logs: Path) -> None:
    with sqlite3.connect(demo.orders) as db:
        db.execute(
            "UPDATE USER_SYNC_LOG SET END_TIME = datetime(START_TIME, '+400 seconds')"
            " WHERE LOG_ID = (SELECT MAX(LOG_ID) FROM USER_SYNC_LOG"
            " WHERE OPERATION_TYPE = 'order_processing' AND SUCCESS = 1)"
        )
    run = demo.run("order-weekly-maintenance", {"logs": str(logs)})
    performance = _steps(run)["performance"]
    assert str(performance.status) == "WARNING"
    assert "max_seconds = 400 > warning 300" in [e.text for e in performance.evaluations]


def test_weekly_maintenance_cleans_up_the_demos_own_logs(demo: Any) -> None:
    """With its default input, on a fresh demo: the processor's logs beside the database
    (demo_logs.py) that are older than 30 days are listed by --rehearse, then deleted; the
    month's logs, the newest with the last run's lines, stay."""
    logs = demo.orders.parent / "logs"
    month_old = sorted(p.name for p in logs.iterdir() if time.time() - p.stat().st_mtime > 30 * DAY)
    recent = sorted(p.name for p in logs.iterdir() if p.name not in month_old)
    assert month_old and recent

    rehearsed = demo.run("order-weekly-maintenance", mode="rehearse")
    assert rehearsed.inputs["logs"] == "var/demo/logs"
    assert {s.id: str(s.status) for s in rehearsed.steps} == {
        "failed_orders": "OK",
        "old_logs": "OK",
        "performance": "OK",
        "prune_history": "SKIPPED",  # a command: not run in a rehearsal
    }
    assert sorted(_steps(rehearsed)["old_logs"].values["files"]) == month_old
    assert len(list(logs.iterdir())) == len(month_old) + len(recent)  # listed, not deleted

    run = demo.run("order-weekly-maintenance")
    assert str(run.status) == "OK", [(s.id, s.error) for s in run.steps]
    assert _steps(run)["old_logs"].values["count"] == len(month_old)
    assert sorted(p.name for p in logs.iterdir()) == recent


def test_weekly_maintenance_is_scheduled_weekly() -> None:
    from runner.language.yamlload import load_file

    doc = load_file(REPO / "runbooks" / "orders" / "weekly-maintenance.yaml")
    assert doc["schedule"] == "0 7 * * 1" and doc["kind"] == "maintenance"
    assert doc["inputs"]["logs"]["default"] == "var/demo/logs"


# --- backups ------------------------------------------------------------------------------


def test_order_backup_copies_the_demo_and_the_check_sees_it(demo: Any) -> None:
    missing = demo.run("order-backup-check")
    assert str(missing.status) == "CRITICAL"  # no backups folder yet

    run = demo.run("order-backup")
    assert str(run.status) == "OK", [(s.id, s.error) for s in run.steps]
    online = _steps(run)["online"].values
    assert online["integrity"] == "ok"
    copy = Path(online["path"])
    assert copy.parent == demo.root / "var" / "backups" and copy.name.startswith("orders-")
    tables = ("USER_ORDER_STAGING", "PS_DOC_HDR", "PS_DOC_LIN", "IM_INV", "USER_SYNC_LOG")
    with sqlite3.connect(demo.orders) as source, sqlite3.connect(copy) as backup:
        for table in tables:
            query = f"SELECT * FROM {table} ORDER BY 1"
            assert backup.execute(query).fetchall() == source.execute(query).fetchall(), table

    check = demo.run("order-backup-check")
    assert str(check.status) == "OK"
    assert 0 <= _steps(check)["newest_file"].values["newest_minutes"] < 60


@pytest.mark.parametrize(
    ("hours_old", "status"), [(30, "WARNING"), (60, "CRITICAL")], ids=["one-missed", "two-missed"]
)
def test_an_old_backup_is_reported(demo: Any, hours_old: int, status: str) -> None:
    _log(demo.root / "var" / "backups", "orders-20260101-013000.db", hours_old / 24)
    run = demo.run("order-backup-check")
    assert str(run.status) == status
    step = _steps(run)["newest_file"]
    assert round(step.values["newest_minutes"] / 60) == hours_old


def test_the_sql_method_on_sqlite_says_what_to_use_instead(demo: Any) -> None:
    run = demo.run("order-backup", {"method": "sql"})
    assert str(run.status) == "CRITICAL"
    texts = [e.text for e in _steps(run)["sql_backup"].evaluations]
    assert any("use method online (SQLite) or pg_dump" in text for text in texts), texts
    assert not (demo.root / "var" / "backups").exists()
