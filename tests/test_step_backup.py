"""The `backup` step: SQLite's online backup of a connection, then integrity_check of the copy."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from runner.steps import executor
from runner.steps.backup import BackupStep, copy_database


@pytest.fixture
def shop(project: Any) -> Any:
    project.sql(
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, total NUMERIC)",
        "INSERT INTO orders (total) VALUES (10), (20.5), (7)",
    )
    project.runbook(
        "copy",
        """
        runbook: copy
        connection: main
        inputs:
          to: {type: string, default: backups/shop.db}
        steps:
          - id: copy
            backup: {to: "{{ inputs.to }}"}
        """,
    )
    return project


def test_registered_under_its_name() -> None:
    assert isinstance(executor("backup"), BackupStep)


def test_copies_the_database_and_checks_the_copy(shop: Any) -> None:
    run = shop.run("copy")
    assert str(run.status) == "OK", run.steps[0].error
    values = run.steps[0].values
    copy = shop.root / "backups" / "shop.db"  # the folder is created
    assert values["path"] == str(copy) and values["integrity"] == "ok"
    assert values["bytes"] == copy.stat().st_size > 0 and values["pages"] > 0
    with sqlite3.connect(copy) as db:
        assert db.execute("SELECT COUNT(*), SUM(total) FROM orders").fetchone() == (3, 37.5)
    assert [p.name for p in copy.parent.iterdir()] == ["shop.db"]  # no scratch file left


def test_never_overwrites_a_file(shop: Any) -> None:
    existing = shop.write("backups/shop.db", "yesterday's backup")
    run = shop.run("copy")
    assert str(run.status) == "CRITICAL"
    assert "already exists; a backup never overwrites a file" in run.steps[0].error
    assert existing.read_text(encoding="utf-8") == "yesterday's backup"


@pytest.mark.parametrize("mode", ["dry-run", "rehearse"])
def test_dry_run_and_rehearsal_write_nothing(shop: Any, mode: str) -> None:
    run = shop.run("copy", mode=mode)
    assert str(run.status) in ("OK", "SKIPPED")
    assert not (shop.root / "backups").exists()


def test_a_copy_taken_while_another_connection_writes_is_consistent(shop: Any) -> None:
    # A writer holds an open transaction with uncommitted rows: the copy has the committed
    # state only, and is whole.
    with sqlite3.connect(shop.db, isolation_level=None) as writer:
        writer.execute("BEGIN")
        writer.execute("INSERT INTO orders (total) VALUES (99)")
        run = shop.run("copy")
        writer.execute("ROLLBACK")
    assert str(run.status) == "OK", run.steps[0].error
    with sqlite3.connect(shop.root / "backups" / "shop.db") as db:
        assert db.execute("SELECT COUNT(*) FROM orders").fetchone() == (3,)


def test_a_copy_that_fails_its_check_leaves_no_file(tmp_path: Path, monkeypatch: Any) -> None:
    source = sqlite3.connect(tmp_path / "source.db")
    source.execute("CREATE TABLE t (x)")
    real_connect = sqlite3.connect

    class Checked(sqlite3.Connection):  # the copy, whose integrity_check finds a broken page
        def execute(self, sql: str, *args: Any) -> Any:
            if sql.startswith("PRAGMA integrity_check"):
                return iter([("*** in database main *** Page 2: btreeInitPage() returns 11",)])
            return super().execute(sql, *args)

    monkeypatch.setattr(
        "runner.steps.backup.sqlite3.connect", lambda path: real_connect(path, factory=Checked)
    )
    values = copy_database(source, tmp_path / "out" / "copy.db", 30)
    assert values["integrity"].startswith("*** in database main ***")
    assert values["bytes"] == 0
    assert list((tmp_path / "out").iterdir()) == []


def test_validation_names_a_connection_that_is_not_sqlite(project: Any) -> None:
    project.config(
        """
        connections:
          main: {sqlite: data.db}
          erp: {odbc: "DRIVER={PostgreSQL Unicode};SERVER=db", dialect: postgres}
        state: var/runner.db
        """
    )
    path = project.runbook(
        "copy",
        """
        runbook: copy
        connection: erp
        steps:
          - id: copy
            backup: {to: backups/erp.db}
        """,
    )
    problems = [str(problem) for problem in project.library().problems(path)]
    assert any(
        "backup copies a SQLite database; connection 'erp' is odbc" in problem
        and "pg_dump" in problem
        for problem in problems
    ), problems


def test_a_backup_step_with_when_is_left_to_run_time_on_a_server(project: Any) -> None:
    """`when: inputs.method == 'online'` marks the SQLite case of a runbook that also
    dumps PostgreSQL (wms-backup): valid on the server's connection; run there, it says why."""
    project.config(
        """
        connections:
          erp: {odbc: "DRIVER={PostgreSQL Unicode};SERVER=db", dialect: postgres}
        state: var/runner.db
        """
    )
    path = project.runbook(
        "copy",
        """
        runbook: copy
        connection: erp
        inputs:
          method: {type: string, default: pg_dump}
        steps:
          - id: copy
            when: inputs.method == 'online'
            backup: {to: backups/erp.db}
        """,
    )
    assert [str(problem) for problem in project.library().problems(path)] == []
