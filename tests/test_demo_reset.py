"""`runbook demo reset [NAME]`: a demo rebuilt whole, or left as it was."""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from datetime import datetime
from pathlib import Path

import pytest

from runner.cli.main import main
from runner.databases import demo_reset
from runner.databases.demo import ensure_demo
from runner.databases.demo_reset import ResetError, reset_demo


def _pending(path: Path) -> int:
    with closing(sqlite3.connect(path)) as db:
        return db.execute(
            "SELECT COUNT(*) FROM USER_ORDER_STAGING WHERE IS_APPLIED = 0"
        ).fetchone()[0]


def _spoil(path: Path) -> None:
    with closing(sqlite3.connect(path)) as db, db:
        db.execute("UPDATE USER_ORDER_STAGING SET IS_APPLIED = 1")


def _with_logs(name: str, path: Path, now: datetime | None = None) -> bool:
    """A demo whose builder also puts a logs/ folder beside its database."""
    built = ensure_demo(name, path, now)
    (path.parent / "logs").mkdir()
    (path.parent / "logs" / "woo_order_processing_new.log").write_text("new\n")
    return built


def test_reset_rebuilds_what_a_run_changed(tmp_path: Path) -> None:
    path = tmp_path / "demo" / "orders.db"
    ensure_demo("orders", path)
    _spoil(path)
    assert _pending(path) == 0
    (tmp_path / "demo" / "orders.db-journal").write_bytes(b"stale")

    assert reset_demo("orders", path) == ["orders.db"]

    assert _pending(path) == 11
    assert not (tmp_path / "demo" / "orders.db-journal").exists()
    leftovers = [p.name for p in path.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_files_beside_the_database_are_replaced_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "orders.db"
    ensure_demo("orders", path)
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "woo_order_processing_old.log").write_text("old\n")
    (tmp_path / "notes.txt").write_text("mine\n")
    monkeypatch.setattr(demo_reset, "ensure_demo", _with_logs)

    assert reset_demo("orders", path) == ["logs", "orders.db"]

    assert [p.name for p in (tmp_path / "logs").iterdir()] == ["woo_order_processing_new.log"]
    assert (tmp_path / "notes.txt").read_text() == "mine\n"  # not the builder's: left alone


def test_a_failed_build_leaves_the_old_demo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "orders.db"
    ensure_demo("orders", path)
    _spoil(path)

    def broken(name: str, target: Path, now: datetime | None = None) -> bool:
        target.write_bytes(b"half")
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(demo_reset, "ensure_demo", broken)
    with pytest.raises(
        ResetError,
        match=r"building demo 'orders' failed, the old one is untouched: OperationalError: disk I/O error",
    ):
        reset_demo("orders", path)
    assert _pending(path) == 0  # still the spoiled one
    assert sorted(p.name for p in tmp_path.iterdir()) == ["orders.db", "orders.db.lock"]


def test_a_failed_swap_puts_the_old_demo_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "orders.db"
    ensure_demo("orders", path)
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "old.log").write_text("old\n")
    _spoil(path)
    monkeypatch.setattr(demo_reset, "ensure_demo", _with_logs)
    real_replace = os.replace
    calls = []

    def replace(source: Path, target: Path) -> None:
        calls.append(Path(target).name)
        if len(calls) == 4:  # both old entries moved out, the new logs/ in: orders.db fails
            raise PermissionError(13, "Permission denied", str(target))
        real_replace(source, target)

    monkeypatch.setattr(demo_reset.os, "replace", replace)
    with pytest.raises(ResetError, match="the old demo is back in place"):
        reset_demo("orders", path)
    monkeypatch.setattr(demo_reset.os, "replace", real_replace)
    assert _pending(path) == 0
    assert [p.name for p in (tmp_path / "logs").iterdir()] == ["old.log"]
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
        "demo orders (orders): rebuilt var/demo/orders.db",
        "demo orders (copy): rebuilt var/copy/orders.db",
    ]
    _spoil(tmp_path / "var" / "copy" / "orders.db")
    assert main(["demo", "reset", "copy"]) == 0
    assert capsys.readouterr().out == "demo orders (copy): rebuilt var/copy/orders.db\n"
    assert _pending(tmp_path / "var" / "copy" / "orders.db") == 11

    assert main(["demo", "reset", "shop"]) == 3
    err = capsys.readouterr().err
    assert (
        "no demo named 'shop'" in err
        and "known are copy (demo orders), orders (demo orders)" in err
    )
    assert "Traceback" not in err
