"""`runbook demo reset [NAME]`: a demo rebuilt whole, or left as it was."""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest

from runner.cli.main import main
from runner.databases import demo_reset
from runner.databases.demo import ensure_demo
from runner.databases.demo_reset import ResetError, reset_demo

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def _pending(path: Path) -> int:
    with closing(sqlite3.connect(path)) as db:
        return db.execute(
            "SELECT COUNT(*) FROM USER_ORDER_STAGING WHERE IS_APPLIED = 0"
        ).fetchone()[0]


def _spoil(path: Path) -> None:
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("UPDATE USER_ORDER_STAGING SET IS_APPLIED = 1")


def _logs(folder: Path) -> dict[str, tuple[str, float]]:
    """The logs folder beside the database: each file's text and modification time."""
    return {
        p.name: (p.read_text(encoding="utf-8"), p.stat().st_mtime)
        for p in sorted((folder / "logs").iterdir())
    }


def _clean_up_logs(folder: Path) -> None:
    """What a weekly maintenance and a person do to the logs: old ones deleted, one added."""
    for old in sorted((folder / "logs").glob("*.log"))[:30]:
        old.unlink()
    (folder / "logs" / "notes-of-mine.log").write_text("mine\n")


def test_reset_rebuilds_what_a_run_changed(tmp_path: Path) -> None:
    path = tmp_path / "demo" / "orders.db"
    ensure_demo("orders", path, NOW)
    fresh, logs = _pending(path), _logs(path.parent)
    _spoil(path)
    _clean_up_logs(path.parent)
    assert _pending(path) == 0 and _logs(path.parent) != logs
    (tmp_path / "demo" / "orders.db-journal").write_bytes(b"stale")

    assert reset_demo("orders", path, NOW) == ["logs", "orders.db"]

    assert _pending(path) == fresh > 0
    assert _logs(path.parent) == logs  # the builder's 61 files again, the same text and times
    assert not (tmp_path / "demo" / "orders.db-journal").exists()
    leftovers = [p.name for p in path.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_files_beside_the_database_not_the_builders_are_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "orders.db"
    ensure_demo("orders", path, NOW)
    (tmp_path / "notes.txt").write_text("mine\n")
    _clean_up_logs(tmp_path)

    assert reset_demo("orders", path, NOW) == ["logs", "orders.db"]

    assert "notes-of-mine.log" not in _logs(tmp_path)  # logs/ is the builder's: replaced
    assert (tmp_path / "notes.txt").read_text() == "mine\n"  # not the builder's: left alone


def test_a_failed_build_leaves_the_old_demo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "orders.db"
    ensure_demo("orders", path, NOW)
    _spoil(path)
    _clean_up_logs(tmp_path)
    logs = _logs(tmp_path)

    def broken(name: str, target: Path, now: datetime | None = None) -> bool:
        target.write_bytes(b"half")
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(demo_reset, "ensure_demo", broken)
    with pytest.raises(
        ResetError,
        match=r"building demo 'orders' failed, the old one is untouched: OperationalError: disk I/O error",
    ):
        reset_demo("orders", path, NOW)
    assert _pending(path) == 0  # still the spoiled one, with its logs
    assert _logs(tmp_path) == logs
    assert sorted(p.name for p in tmp_path.iterdir()) == ["logs", "orders.db", "orders.db.lock"]


def test_a_failed_swap_puts_the_old_demo_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "orders.db"
    ensure_demo("orders", path, NOW)
    _spoil(path)
    _clean_up_logs(tmp_path)
    logs = _logs(tmp_path)
    real_replace = os.replace
    swapped = []

    def replace(source: Path, target: Path) -> None:
        if Path(target).parent == tmp_path or Path(source).parent == tmp_path:
            swapped.append((Path(source).parent == tmp_path, Path(target).name))
        # The old logs/ and orders.db are moved out, the new logs/ in: the new orders.db fails.
        if Path(target) == path and Path(source).parent.name.endswith(".reset"):
            raise PermissionError(13, "Permission denied", str(target))
        real_replace(source, target)

    monkeypatch.setattr(demo_reset.os, "replace", replace)
    with pytest.raises(ResetError, match="the old demo is back in place"):
        reset_demo("orders", path, NOW)
    monkeypatch.setattr(demo_reset.os, "replace", real_replace)
    out, into = True, False  # (moved out of the folder?, name)
    assert swapped == [
        (out, "logs"), (out, "orders.db"), (into, "logs"), (into, "orders.db"),
        (out, "logs"), (into, "orders.db"), (into, "logs"),
    ]  # fmt: skip
    assert _pending(path) == 0
    assert _logs(tmp_path) == logs
    assert sorted(p.name for p in tmp_path.iterdir()) == ["logs", "orders.db", "orders.db.lock"]


def test_the_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RUNBOOK_CONFIG", raising=False)
    (tmp_path / "runner.yaml").write_text(
        "connections:\n"
        "  orders: {sqlite: var/demo/orders.db, demo: orders}\n"
        "  copy: {sqlite: var/copy/orders.db, demo: orders}\n"
        "  plain: {sqlite: var/plain.db}\n"
    )
    assert main(["demo", "reset"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines() == [
        "demo orders (orders): rebuilt var/demo/orders.db and logs/ beside it",
        "demo orders (copy): rebuilt var/copy/orders.db and logs/ beside it",
    ]
    copy = tmp_path / "var" / "copy"
    fresh = _pending(copy / "orders.db")
    _spoil(copy / "orders.db")
    _clean_up_logs(copy)
    assert main(["demo", "reset", "copy"]) == 0
    assert (
        capsys.readouterr().out
        == "demo orders (copy): rebuilt var/copy/orders.db and logs/ beside it\n"
    )
    assert _pending(copy / "orders.db") == fresh > 0
    assert "notes-of-mine.log" not in _logs(copy) and len(_logs(copy)) == len(
        _logs(tmp_path / "var" / "demo")
    )

    assert main(["demo", "reset", "shop"]) == 3
    err = capsys.readouterr().err
    assert (
        "no demo named 'shop'" in err
        and "known are copy (demo orders), orders (demo orders)" in err
    )
    assert "Traceback" not in err
