"""The order processor's logs beside the orders demo database (runner/databases/demo_logs.py)."""

from __future__ import annotations

import os
import re
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from runner.databases import demo_logs
from runner.databases.demo import ensure_demo
from runner.databases.demo_logs import LOG_PREFIX, build_order_logs
from runner.databases.demo_orders import HISTORY_DAYS, LAST_RUN_AGO

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _mtime(path: Path) -> datetime:
    return EPOCH + timedelta(seconds=path.stat().st_mtime)


def _last_run(database: Path) -> tuple[datetime, int]:
    """The processor's last run in USER_SYNC_LOG: its end (UTC) and its length in seconds."""
    with closing(sqlite3.connect(database)) as db:
        start, end = db.execute(
            "SELECT START_TIME, END_TIME FROM USER_SYNC_LOG WHERE OPERATION_TYPE = "
            "'order_processing' ORDER BY START_TIME DESC LIMIT 1"
        ).fetchone()
    started, ended = (
        datetime.strptime(t, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC) for t in (start, end)
    )
    return ended, int((ended - started).total_seconds())


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("demo")
    assert ensure_demo("orders", folder / "orders.db", NOW) is True
    return folder


def test_built_beside_the_database_one_file_a_day_over_60_days(demo: Path) -> None:
    files = sorted((demo / "logs").iterdir())
    assert [p.name for p in files][:2] == [
        f"{LOG_PREFIX}20251106.log",
        f"{LOG_PREFIX}20251107.log",
    ]
    assert len(files) == 61 and files[-1].name == f"{LOG_PREFIX}20260105.log"
    assert all(re.fullmatch(rf"{LOG_PREFIX}\d{{8}}\.log", p.name) for p in files)
    ages = [(NOW - _mtime(p)).total_seconds() / 86400 for p in files]
    assert ages == sorted(ages, reverse=True)
    assert 59 < ages[0] <= 60 and sum(age > 30 for age in ages) == 30
    # the processor's last run, 70 minutes before now: the newest file ends with it
    ended, seconds = _last_run(demo / "orders.db")
    assert ended - timedelta(seconds=seconds) == NOW - LAST_RUN_AGO
    assert _mtime(files[-1]) == ended


def test_the_last_seven_days_are_those_of_user_sync_log(demo: Path) -> None:
    with sqlite3.connect(demo / "orders.db") as db:
        runs = db.execute(
            "SELECT START_TIME, ERROR_MESSAGE FROM USER_SYNC_LOG "
            "WHERE OPERATION_TYPE = 'order_processing' ORDER BY START_TIME"
        ).fetchall()
    text = "".join(p.read_text() for p in sorted((demo / "logs").iterdir()))
    started = re.findall(r"^(\S+ \S+) INFO Order processing started", text, re.M)
    assert started[-len(runs) :] == [start for start, _ in runs]
    assert runs[0][0] < (NOW - timedelta(days=HISTORY_DAYS)).strftime("%Y-%m-%d %H:%M:%S")
    errors = re.findall(r"^\S+ \S+ ERROR ((?:Connection failed|Timeout expired).*)$", text, re.M)
    logged = [error for _, error in runs if error]
    assert errors[-len(logged) :] == logged and len(logged) == 20
    older = errors[: -len(logged)]
    assert older, "the older days have the odd transient error too"
    last = (demo / "logs" / f"{LOG_PREFIX}20260105.log").read_text().splitlines()
    assert last[-2].endswith("because the target machine actively refused it")
    assert last[-1].endswith(
        f"ERROR Order processing failed after {_last_run(demo / 'orders.db')[1]} s"
    )


def test_a_failure_midway_leaves_no_folder_and_no_scratch(tmp_path: Path, monkeypatch) -> None:
    calls = []

    def fail(self: Path, text: str, encoding: str) -> int:
        calls.append(self)
        if len(calls) == 10:
            raise OSError(28, "No space left on device")
        return Path.write_bytes(self, text.encode(encoding))

    monkeypatch.setattr(Path, "write_text", fail)
    with pytest.raises(OSError, match="No space left"):
        build_order_logs(tmp_path / "logs", NOW)
    assert list(tmp_path.iterdir()) == []


def test_a_rebuild_swaps_the_folder_whole(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    build_order_logs(logs, NOW)
    (logs / "mine.txt").write_text("a file of the user's")
    for old in list(logs.glob("*.log"))[:40]:
        old.unlink()  # a weekly clean-up ran
    assert demo_logs.ensure_order_logs(logs, NOW) is False  # there: left alone
    assert len(list(logs.iterdir())) == 22
    assert build_order_logs(logs, NOW + timedelta(days=1)) is True
    assert len(list(logs.iterdir())) == 61 and not (logs / "mine.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["logs"]


def test_ensure_demo_writes_missing_logs_for_an_existing_database(tmp_path: Path) -> None:
    path = tmp_path / "orders.db"
    ensure_demo("orders", path, NOW)
    for log in (tmp_path / "logs").iterdir():
        os.unlink(log)
    (tmp_path / "logs").rmdir()
    assert ensure_demo("orders", path, NOW) is False
    assert len(list((tmp_path / "logs").iterdir())) == 61


def test_a_dead_builders_scratch_folder_is_swept_when_the_demo_is_built(tmp_path: Path) -> None:
    dead = tmp_path / ".logs.4242.deadbeef.building"
    dead.mkdir()
    (dead / f"{LOG_PREFIX}20260101.log").write_text("half\n")
    assert ensure_demo("orders", tmp_path / "orders.db", NOW) is True
    assert sorted(p.name for p in tmp_path.iterdir()) == ["logs", "orders.db", "orders.db.lock"]
