"""The state store on real SQLite files and a real PostgreSQL database, shared by real
processes. The store's behaviour tests run on both (`where`); the PostgreSQL ones are
integration tests (a schema of their own in the session's database)."""

from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from integration.conftest import postgres  # noqa: F401 - the session's PostgreSQL database

from runner.base.errors import ConfigError, InputError
from runner.base.hostname import hostname
from runner.base.masking import Masker
from runner.base.status import Status
from runner.base.timestamps import timestamp_text
from runner.history.migrations import SCHEMA_VERSION
from runner.history.reads import SHOWN_COLUMNS
from runner.history.records import LAST_RUNS_SQL, MAX_STORED_ROWS
from runner.history.store import StateStore, new_run_id
from runner.language.config import ConnectionSpec
from runner.language.results import Attempt, Evaluation, RunResult, StepResult

REPO = Path(__file__).resolve().parent.parent
SECRET = "Xq9-cp-P@ssw0rd"
START = datetime(2026, 11, 24, 9, 15, tzinfo=UTC)


def order_health_run(
    run_id: str | None = None,
    *,
    runbook: str = "order-health",
    started: datetime = START,
    status: Status = Status.WARNING,
    mode: str = "run",
    secret: str = "",
) -> RunResult:
    """A morning health check: a SQL threshold, a retried HTTP call, a for_each."""
    pending = StepResult(
        id="pending",
        title="Pending orders",
        action="sql",
        status=Status.WARNING,
        started=started,
        duration=0.12,
        values={
            "rows": [{"pending_count": 37, "oldest_minutes": 95}],
            "row": {"pending_count": 37, "oldest_minutes": 95},
            "value": 37,
            "columns": ["pending_count", "oldest_minutes"],
            "rowcount": 1,
        },
        evaluations=[
            Evaluation(
                name="pending_count",
                status=Status.WARNING,
                text="pending_count = 37 > warning 10",
                value=37,
                warning=10,
                critical=50,
                direction="above",
            ),
            Evaluation("oldest_minutes", Status.OK, "oldest_minutes = 95 <= warning 120", 95),
        ],
        attempts=[Attempt(1, started, 0.12, "ok")],
        hint="If orders are stuck, check that order-processing ran in the last hour.",
    )
    api = StepResult(
        id="api",
        title="Storefront API",
        action="http",
        started=started + timedelta(seconds=1),
        duration=2.5,
        values={"status": 200, "elapsed_ms": 312.5, "json": {"ok": True}},
        attempts=[
            Attempt(
                1, started, 2.0, "failed",
                f"connection refused: https://shop:{secret or 'pw-none'}@127.0.0.1:1/health",
            ),
            Attempt(2, started + timedelta(seconds=2), 0.5, "ok"),
        ],
    )  # fmt: skip
    items = [
        StepResult(
            id="reset",
            title=f"Reset staging row {staging_id}",
            action="sql",
            status=item_status,
            item={"staging_id": staging_id},
            values={"rowcount": 1},
            error=None if item_status is Status.OK else "deadlock victim",
        )
        for staging_id, item_status in ((41, Status.OK), (42, Status.CRITICAL))
    ]
    fix = StepResult(
        id="fix-failed",
        title="Reset failed orders",
        action="for_each",
        status=Status.CRITICAL,
        children=items,
    )
    return RunResult(
        run_id=run_id or new_run_id(),
        runbook=runbook,
        title="Order pipeline - morning health check",
        kind="health-check",
        status=status,
        mode=mode,
        trigger="schedule",
        started=started,
        ended=started + timedelta(seconds=4),
        inputs={"stale_minutes": 60, "api_password": secret} if secret else {"stale_minutes": 60},
        user="ops",
        host="runner01",
        steps=[pending, api, fix],
        error=f"login failed for {secret}" if secret else None,
        path="runbooks/orders/order-health.yaml",
    )


@dataclass
class Where:
    """A state store under test: a SQLite file or a PostgreSQL schema of its own."""

    kind: str  # sqlite | postgres
    location: Path | ConnectionSpec

    def open(self, masker: Masker | None = None) -> StateStore:
        return StateStore(self.location, masker)

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Run SQL on the store directly, as another program would."""
        if isinstance(self.location, Path):
            with contextlib.closing(sqlite3.connect(self.location)) as conn, conn:
                return [tuple(row) for row in conn.execute(sql, params).fetchall()]
        import pyodbc

        with contextlib.closing(pyodbc.connect(self.location.target, autocommit=True)) as conn:
            cursor = conn.execute(sql, *params)
            return [tuple(row) for row in cursor.fetchall()] if cursor.description else []

    def dicts(self, sql: str) -> list[dict[str, Any]]:
        if isinstance(self.location, Path):
            with contextlib.closing(
                sqlite3.connect(f"file:{self.location}?mode=ro", uri=True)
            ) as conn:
                conn.row_factory = sqlite3.Row
                return [dict(row) for row in conn.execute(sql)]
        import pyodbc

        with contextlib.closing(pyodbc.connect(self.location.target, autocommit=True)) as conn:
            cursor = conn.execute(sql)
            names = [column[0] for column in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def argument(self) -> str:
        """The location for a child process, as JSON."""
        if isinstance(self.location, Path):
            return json.dumps({"sqlite": str(self.location)})
        return json.dumps({"odbc": self.location.target})


def postgres_schema(backend: Any) -> Iterator[ConnectionSpec]:
    """A fresh schema in the session's PostgreSQL database, the store's search_path."""
    schema = f"state_{secrets.token_hex(4)}"
    backend.execute(f"CREATE SCHEMA {schema}")
    try:
        target = f"{backend.odbc};ConnSettings={{SET search_path TO {schema}}}"
        yield ConnectionSpec("state", "odbc", target, "postgres")
    finally:
        backend.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Where]:
    if request.param == "sqlite":
        yield Where("sqlite", tmp_path / "var" / "runner.db")
        return
    yield from (
        Where("postgres", spec) for spec in postgres_schema(request.getfixturevalue("postgres"))
    )


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "var" / "runner.db"


@pytest.fixture
def store(where: Where) -> Iterator[StateStore]:
    with where.open() as opened:
        yield opened


# -- schema and migrations ---------------------------------------------------------------


def test_migrations_create_the_schema_once(where: Where) -> None:
    where.open().close()
    where.open().close()  # reopening applies nothing twice

    assert where.rows("SELECT version FROM schema_version ORDER BY version") == [
        (version,) for version in range(1, SCHEMA_VERSION + 1)
    ]
    if where.kind == "postgres":
        tables = where.rows(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema() ORDER BY table_name"
        )
        assert [name for (name,) in tables] == [
            "alert_state", "claims", "deliveries", "maintenance", "runs", "runs_summary",
            "schema_version",
            "step_results",
        ]  # fmt: skip


def test_a_sqlite_store_is_in_wal_mode_with_its_indexes(db_path: Path) -> None:
    StateStore(db_path).close()

    with sqlite3.connect(db_path) as conn:
        objects = set(
            conn.execute("SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")
        )
        versions = conn.execute("SELECT version FROM schema_version").fetchall()
        journal = conn.execute("PRAGMA journal_mode").fetchone()[0]
    assert {
        ("table", "schema_version"),
        ("table", "runs"),
        ("table", "step_results"),
        ("index", "idx_runs_runbook_started"),
        ("index", "idx_runs_newest"),
        ("index", "idx_runs_running"),
        ("view", "runs_summary"),
    } <= objects
    assert versions == [(version,) for version in range(1, SCHEMA_VERSION + 1)]
    assert journal == "wal"


def test_last_runs_seeks_each_runbooks_newest_runs_in_the_index(db_path: Path) -> None:
    """`status` reads every runbook's newest runs: each a seek in idx_runs_newest, which
    holds what the query compares, never a scan of runs nor a sort for ties."""
    StateStore(db_path).close()

    with sqlite3.connect(db_path) as conn:
        plan = [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {LAST_RUNS_SQL}")]
    seeks = [step for step in plan if "idx_runs_newest" in step]
    assert len(seeks) == 2 and all("COVERING INDEX" in step for step in seeks), plan
    assert not [step for step in plan if step.startswith("SCAN runs") or "TEMP B-TREE" in step]


def test_a_store_newer_than_the_code_is_refused(where: Where) -> None:
    where.open().close()
    where.rows(
        "INSERT INTO schema_version (version, applied) VALUES (?, 'later')", SCHEMA_VERSION + 1
    )

    with pytest.raises(ConfigError, match=rf"schema version {SCHEMA_VERSION + 1}, newer than"):
        where.open()


def test_a_version_2_store_is_migrated_keeping_its_alert_state(
    where: Where, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Migration 3 adds the failing steps told to alert_state; rows kept before read None."""
    import runner.history.store as state_module

    with monkeypatch.context() as older:  # the release before migration 3
        older.setattr(state_module, "MIGRATIONS", state_module.MIGRATIONS[:2])
        older.setattr(state_module, "SCHEMA_VERSION", 2)
        where.open().close()
    where.rows(
        "INSERT INTO alert_state (runbook, subject, status, announced, streak, recent_json, "
        "updated) VALUES ('order-health', '', 'CRITICAL', 'CRITICAL', 3, '[\"CRITICAL\"]', "
        "'2026-11-24T09:00:00Z')"
    )
    assert where.rows("SELECT MAX(version) FROM schema_version") == [(2,)]

    with where.open() as store:
        [row] = store.alert_states("order-health")
        assert (row["announced"], row["streak"], row["recent"]) == ("CRITICAL", 3, ["CRITICAL"])
        assert row["failing"] is None  # not known: the next run takes what fails then
        told = {
            "failing": ["pending", "api"],
            "last_run_id": "r2",
            "last_sent": "2026-11-24T10:00:00Z",
        }
        store.update_alerts("order-health", lambda rows: ({"": {**rows[""], **told}}, None))
        [row] = store.alert_states("order-health")
        assert (row["announced"], row["failing"]) == ("CRITICAL", ["pending", "api"])
        # The spread run r2 claimed reached nobody: what people knew before comes back.
        store.send_again(
            "order-health", "", "r2", message=True, escalated=None, failing=["pending"]
        )
        [row] = store.alert_states("order-health")
    assert (row["failing"], row["last_sent"]) == (["pending"], None)
    assert where.rows("SELECT version FROM schema_version ORDER BY version") == [
        (version,) for version in range(1, SCHEMA_VERSION + 1)
    ]


def _indexes(where: Where) -> set[str]:
    if where.kind == "sqlite":
        sql = "SELECT name FROM sqlite_master WHERE type = 'index'"
    else:
        sql = "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
    return {name for (name,) in where.rows(sql)}


def test_a_version_11_store_gets_statements_and_loses_idx_runs_started(
    where: Where, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Migration 12 keeps the statement a SQL step sent, and drops idx_runs_started, which
    idx_runs_started_id (11) leads with the same column. The runs kept before read back
    as they were, without a statement."""
    import runner.history.store as state_module

    with monkeypatch.context() as older:  # the release before migration 12
        older.setattr(state_module, "MIGRATIONS", state_module.MIGRATIONS[:11])
        older.setattr(state_module, "SCHEMA_VERSION", 11)
        where.open().close()
    where.rows(
        "INSERT INTO runs (run_id, runbook, status, outcome, mode, started) "
        "VALUES ('r-old', 'order-health', 'OK', 'completed', 'run', '2026-11-24T09:00:00Z')"
    )
    where.rows(
        "INSERT INTO step_results (run_id, seq, step_id, action, status, outcome, values_json) "
        "VALUES ('r-old', 1, 'pending', 'sql', 'OK', 'ok', '{\"value\": 3}')"
    )
    assert "idx_runs_started" in _indexes(where)

    with where.open() as store:
        old = store.get_run("r-old")
        run = order_health_run()
        run.steps[0].statement = {
            "connection": "orders",
            "sql": "SELECT COUNT(*) AS pending_count FROM orders WHERE status = ?",
            "params": ["pending"],
            "file": "orders/pending_orders.sql",
        }
        store.finish_run(run)
        new = store.get_run(run.run_id)

    assert old is not None and new is not None
    (step,) = old["steps"]
    assert step["values"] == {"value": 3} and "statement" not in step
    assert new["steps"][0]["statement"] == run.steps[0].statement
    assert "statement" not in new["steps"][1]  # the HTTP step keeps none
    indexes = _indexes(where)
    assert "idx_runs_started" not in indexes and "idx_runs_started_id" in indexes
    assert where.rows("SELECT version FROM schema_version ORDER BY version") == [
        (version,) for version in range(1, SCHEMA_VERSION + 1)
    ]


def test_a_file_that_is_not_a_database_is_refused(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    db_path.write_text("these are my notes, not a database\n" * 100)

    with pytest.raises(ConfigError, match=r"the state store is damaged \(file is not a database\)"):
        StateStore(db_path)


# -- round trip --------------------------------------------------------------------------


def test_finished_run_reads_back_with_nested_steps(store: StateStore) -> None:
    run = order_health_run()
    store.start_run(run)
    store.finish_run(run)

    stored = store.get_run(run.run_id)

    assert stored is not None
    assert {key: stored[key] for key in ("runbook", "status", "exit_code", "outcome", "mode")} == {
        "runbook": "order-health",
        "status": "WARNING",
        "exit_code": 1,
        "outcome": "completed",
        "mode": "run",
    }
    assert stored["started"] == "2026-11-24T09:15:00.000000Z"
    assert stored["ended"] == "2026-11-24T09:15:04.000000Z"
    assert stored["duration"] == 4.0
    assert stored["inputs"] == {"stale_minutes": 60}
    assert stored["pid"] == os.getpid()
    assert [step["id"] for step in stored["steps"]] == ["pending", "api", "fix-failed"]

    pending, api, fix = stored["steps"]
    assert pending["values"]["row"] == {"pending_count": 37, "oldest_minutes": 95}
    assert pending["evaluations"][0]["text"] == "pending_count = 37 > warning 10"
    assert pending["evaluations"][0]["status"] == "WARNING"
    assert pending["hint"].startswith("If orders are stuck")
    assert [attempt["outcome"] for attempt in api["attempts"]] == ["failed", "ok"]
    assert api["attempts"][1]["started"] == "2026-11-24T09:15:02.000000Z"
    assert [(c["item"], c["status"], c["error"]) for c in fix["children"]] == [
        ({"staging_id": 41}, "OK", None),
        ({"staging_id": 42}, "CRITICAL", "deadlock victim"),
    ]
    assert {child["parent_seq"] for child in fix["children"]} == {fix["seq"]}


def test_finishing_twice_replaces_the_steps(store: StateStore, where: Where) -> None:
    run = order_health_run()
    store.finish_run(run)  # refused or invalid runs are finished without being started
    run.status = Status.CRITICAL
    store.finish_run(run)

    assert store.get_run(run.run_id)["status"] == "CRITICAL"
    assert where.rows("SELECT COUNT(*) FROM step_results") == [(5,)]


def test_a_run_that_never_finished_stays_visible(where: Where) -> None:
    run = order_health_run()
    with where.open() as store:
        store.start_run(run)  # and then the process dies

    with where.open() as store:
        [row] = store.history()
    assert (row["run_id"], row["outcome"], row["status"], row["ended"]) == (
        run.run_id, "running", None, None,
    )  # fmt: skip


def test_history_is_newest_first_and_filters(store: StateStore) -> None:
    for minutes, runbook, status in [
        (0, "order-health", Status.OK),
        (10, "order-processing", Status.CRITICAL),
        (20, "order-health", Status.CRITICAL),
        (30, "order-health", Status.OK),
    ]:
        run = order_health_run(
            runbook=runbook, started=START + timedelta(minutes=minutes), status=status
        )
        store.finish_run(run)

    def started_minutes(rows: list[dict]) -> list[int]:
        return [int(row["started"][14:16]) - 15 for row in rows]

    assert started_minutes(store.history()) == [30, 20, 10, 0]
    assert started_minutes(store.history("order-health")) == [30, 20, 0]
    assert started_minutes(store.history("order-health", status="critical")) == [20]
    assert started_minutes(store.history(limit=2)) == [30, 20]
    assert store.history("no-such-runbook") == []


def test_get_run_accepts_a_unique_prefix(store: StateStore) -> None:
    for run_id in ("20261124T091500Z-aaaa01", "20261124T091500Z-aaaa02", "20261124T101500Z-bbbb01"):
        store.finish_run(order_health_run(run_id))

    assert store.get_run("20261124T1")["run_id"] == "20261124T101500Z-bbbb01"
    assert store.get_run("20261124T091500Z-aaaa02")["run_id"] == "20261124T091500Z-aaaa02"
    assert store.get_run("2025") is None
    assert store.get_run("20261124T09%") is None  # LIKE wildcards are plain characters
    with pytest.raises(InputError, match="ambiguous: it matches 20261124T091500Z-aaaa01, "):
        store.get_run("20261124T0915")


def test_last_run_skips_running_runs_and_rehearsals(store: StateStore) -> None:
    ok = order_health_run(started=START, status=Status.OK)
    critical = order_health_run(started=START + timedelta(hours=1), status=Status.CRITICAL)
    rehearsal = order_health_run(started=START + timedelta(hours=2), mode="rehearse")
    running = order_health_run(started=START + timedelta(hours=3))
    for run in (ok, critical, rehearsal):
        store.finish_run(run)
    store.start_run(running)

    assert store.last_run("order-health")["run_id"] == critical.run_id
    assert store.last_run("order-health", status="OK")["run_id"] == ok.run_id
    assert store.last_run("order-health", include_running=True)["run_id"] == running.run_id
    assert store.last_run("order-health", mode=None)["run_id"] == rehearsal.run_id
    assert store.last_run("order-health")["steps"][0]["id"] == "pending"
    assert store.last_run("order-processing") is None


def test_last_runs_answers_what_last_run_answers_for_every_runbook(
    store: StateStore, where: Where
) -> None:
    """`status` asks once for all runbooks: the same runs as one `last_run` per runbook,
    with dry runs, rehearsals, runs still going and runs started at the same time."""
    runs = []
    for book in range(30):
        name = f"book-{book:02d}" + ("_x" if book % 4 == 0 else "")  # LIKE-free names
        for number in range(book % 6):
            started = START + timedelta(minutes=10 * number if book % 5 else 0)
            kinds = ("run", "dry-run", "rehearse")
            mode = kinds[number % 3] if book % 2 else "run"
            status = (Status.OK, Status.WARNING, Status.CRITICAL)[(book + number) % 3]
            runs.append(
                RunResult(
                    run_id=f"20261124T0915{book:02d}Z-{number:012x}",
                    runbook=name,
                    status=status,
                    mode=mode,
                    started=started,
                    ended=started + timedelta(seconds=book),
                    outcome=("completed", "aborted", "skipped")[number % 3],
                )
            )
    runs.append(RunResult(run_id=new_run_id(), runbook="rehearsed", mode="rehearse", started=START))
    for run in runs:
        store.finish_run(run)
    for book in (3, 7, 11, 99):  # the newest of these is still running
        store.start_run(
            RunResult(
                run_id=f"20261124T2359{book:02d}Z-ffffffffffff",
                runbook=f"book-{book:02d}",
                started=START + timedelta(hours=5),
            )
        )

    names = {name for (name,) in where.rows("SELECT DISTINCT runbook FROM runs")}
    expected = {}
    for name in sorted(names):
        last = store.last_run(name)
        if last is not None:
            expected[name] = {column: last[column] for column in SHOWN_COLUMNS}
    answered = store.last_runs()
    assert answered.finished == expected
    assert len(expected) > 15 and {"rehearsed", "book-99"} == names - set(expected)
    newest = {}  # the same query's newest real run, finished or still going
    for name in sorted(names):
        last = store.last_run(name, include_running=True)
        if last is not None:
            newest[name] = (datetime.fromisoformat(last["started"]), last["outcome"] == "running")
    assert answered.newest == newest
    assert {"book-03", "book-07", "book-11", "book-99"} <= {
        name for name, (_, running) in newest.items() if running
    }


def test_status_with_many_runbooks_shows_each_ones_last_run(
    where: Where, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """`runbook status` over 40 runbooks and their runs: each row is what `last_run` of
    that runbook says, whichever store holds them."""
    from runner.cli import main

    state = where.argument()  # {"sqlite": path} or {"odbc": target}: YAML flow mappings
    (tmp_path / "runner.yaml").write_text(
        f"state: {state}\nconnections:\n  db: {{sqlite: var/db.sqlite}}\nrunbooks: [runbooks]\n",
        encoding="utf-8",
    )
    (tmp_path / "runbooks").mkdir()
    names = [f"book-{number:02d}" for number in range(40)]
    for number, name in enumerate(names):
        schedule = f"schedule: '{number} * * * *'\n" if number % 3 else ""
        (tmp_path / "runbooks" / f"{name}.yaml").write_text(
            f"runbook: {name}\ntitle: Book {number}\n{schedule}connection: db\n"
            "steps:\n  - id: one\n    sql: SELECT 1 AS n\n",
            encoding="utf-8",
        )
    with where.open() as store:
        for number, name in enumerate(names):
            for run in range(number % 4):
                started = START + timedelta(minutes=run)
                mode = "dry-run" if run == 2 else "run"
                status = (Status.OK, Status.WARNING, Status.CRITICAL)[(number + run) % 3]
                store.finish_run(
                    RunResult(new_run_id(), name, status=status, mode=mode, started=started,
                              ended=started + timedelta(seconds=run))
                )  # fmt: skip
        going = RunResult(
            new_run_id(), "book-07", host=hostname(), started=START + timedelta(hours=1)
        )
        store.start_run(going)  # its pid is younger than the run: abandoned by `status`
        assert [row["run_id"] for row in store.reconcile()] == [going.run_id]
        store.finish_run(RunResult(new_run_id(), "gone", started=START))  # no file any more
        expected = {name: store.last_run(name) or {} for name in names}
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RUNBOOK_CONFIG", raising=False)

    code = main(["status", "--format", "json"])
    rows = json.loads(capsys.readouterr().out)

    assert sorted(row["runbook"] for row in rows) == names
    for row in rows:
        last = expected[row["runbook"]]
        shown = {key: row[key] for key in ("status", "run_id", "started", "duration", "outcome")}
        answer = {key: last.get(key) for key in shown}
        answer["started"] = timestamp_text(answer["started"])  # shown to the millisecond
        assert shown == answer, row["runbook"]
    assert sum(row["run_id"] is not None for row in rows) == 30  # a quarter never ran
    assert [row["outcome"] for row in rows if row["runbook"] == "book-07"] == ["abandoned"]
    assert code == 2  # the worst of them is CRITICAL


def test_last_runs_of_an_empty_store_is_empty(store: StateStore) -> None:
    assert store.last_runs() == ({}, {})


def test_new_run_ids_sort_by_time_and_do_not_repeat() -> None:
    ids = [new_run_id() for _ in range(500)]
    assert len(set(ids)) == 500
    assert ids == sorted(ids, key=lambda run_id: run_id.split("-")[0])
    assert datetime.strptime(ids[0].split("-")[0], "%Y%m%dT%H%M%SZ")


# -- values ------------------------------------------------------------------------------


@dataclass
class Money:
    amount: Decimal
    currency: str


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no text for you")


def test_values_are_stored_json_safe_whatever_their_type(store: StateStore) -> None:
    run = order_health_run()
    run.steps[0].values = {
        "rows": [{"id": number, "total": Decimal("19.95")} for number in range(250)],
        "rowcount": 250,
        "when_naive": datetime(2026, 11, 24, 10, 0),
        "when_aware": datetime(2026, 11, 24, 10, 0, tzinfo=UTC),
        "count": Decimal("37"),
        "not_a_number": float("nan"),
        "big": Decimal("Infinity"),
        "blob": b"\x00\xffok",
        "tags": {"urgent"},
        "money": Money(Decimal("12.50"), "EUR"),
        "odd": Unprintable(),
        "age": timedelta(minutes=90),
        "status": Status.CRITICAL,
        7: "an int key",
    }
    run.steps[0].item = object()
    store.finish_run(run)

    values = store.get_run(run.run_id)["steps"][0]["values"]

    assert len(values["rows"]) == MAX_STORED_ROWS
    assert values["rows"][-1] == {"id": MAX_STORED_ROWS - 1, "total": 19.95}
    assert (values["rows_truncated"], values["rows_total"], values["rowcount"]) == (True, 250, 250)
    assert values["when_naive"] == "2026-11-24T10:00:00"
    assert values["when_aware"] == "2026-11-24T10:00:00.000000Z"
    assert values["count"] == 37 and isinstance(values["count"], int)
    assert values["not_a_number"] == "nan"
    assert values["big"] == "Infinity"
    assert values["blob"] == "00ff6f6b"
    assert values["tags"] == ["urgent"]
    assert values["money"] == {"amount": 12.5, "currency": "EUR"}
    assert values["odd"] == "<Unprintable>"
    assert values["age"] == 5400.0
    assert values["status"] == "CRITICAL"
    assert values["7"] == "an int key"
    assert not math.isnan(store.get_run(run.run_id)["duration"])


# -- secrets -----------------------------------------------------------------------------


def test_secrets_never_reach_the_file(db_path: Path) -> None:
    masker = Masker([SECRET])
    run = order_health_run(secret=SECRET)
    run.steps[0].values["rows"] = [{"note": f"password was {SECRET}", "marker": "VISIBLE-MARK"}]
    run.steps[0].evaluations[0].text = f"login {SECRET} = 37 > warning 10"
    run.steps[2].children[0].item = {"staging_id": 41, "api_key": SECRET}
    run.steps[1].values["headers"] = {"Authorization": "Bearer abc.def.ghi"}

    store = StateStore(db_path, masker)
    store.start_run(run)
    store.finish_run(run)
    wal = Path(f"{db_path}-wal")
    written = [db_path.read_bytes(), wal.read_bytes() if wal.exists() else b""]
    stored = store.get_run(run.run_id)
    store.close()
    written.append(db_path.read_bytes())  # after the checkpoint on close

    everything = b"".join(written)
    assert b"VISIBLE-MARK" in everything  # the grep below looks where the data is
    for form in (SECRET, "Xq9-cp-P%40ssw0rd", "pw-none", "abc.def.ghi"):
        assert form.encode() not in everything, form
    assert stored["inputs"]["api_password"] == "***"
    assert stored["error"] == "login failed for ***"
    assert stored["steps"][1]["attempts"][0]["error"].startswith(
        "connection refused: https://shop:***@"
    )


# -- the state connection used by checks -------------------------------------------------


def test_runs_summary_answers_minutes_since_last_success(store: StateStore, where: Where) -> None:
    now = datetime.now(UTC)
    for started, status, mode in [
        (now - timedelta(hours=3), Status.OK, "run"),
        (now - timedelta(minutes=122), Status.OK, "run"),  # ends 2 hours ago
        (now - timedelta(minutes=32), Status.CRITICAL, "run"),  # ends 28 minutes ago
        (now - timedelta(minutes=10), Status.OK, "dry-run"),  # renders only: ignored
    ]:
        run = order_health_run(runbook="order-processing", started=started, status=status)
        run.mode, run.ended = mode, started + timedelta(minutes=2 if mode == "run" else 0)
        store.finish_run(run)
    overlapping = order_health_run(runbook="order-processing", started=now, status=Status.OK)
    overlapping.outcome, overlapping.steps = "skipped", []  # another one was running
    store.finish_run(overlapping)
    store.finish_run(order_health_run(runbook="order-health", status=Status.CRITICAL))

    # Checks read the view through the `state` connection.
    rows = {row["runbook"]: row for row in where.dicts("SELECT * FROM runs_summary")}

    processing = rows["order-processing"]
    assert (processing["runs"], processing["last_run_id"], processing["last_outcome"]) == (
        4, overlapping.run_id, "skipped",
    )  # fmt: skip
    # A skipped run neither succeeded nor finished: the minutes come from earlier runs.
    assert 119.5 < processing["minutes_since_success"] < 125
    assert 27.5 < processing["minutes_since_finished"] < 35
    assert rows["order-health"]["minutes_since_success"] is None


# -- several processes -------------------------------------------------------------------

_WRITER = textwrap.dedent(
    """
    import json
    import sys
    from datetime import UTC, datetime, timedelta
    from pathlib import Path
    sys.path.insert(0, sys.argv[3])
    from runner.language.config import ConnectionSpec
    from runner.language.results import Attempt, RunResult, StepResult
    from runner.history.store import StateStore, new_run_id
    from runner.base.status import Status

    where = json.loads(sys.argv[1])
    location = (
        Path(where["sqlite"]) if "sqlite" in where
        else ConnectionSpec("state", "odbc", where["odbc"], "postgres")
    )
    print("ready", flush=True)
    sys.stdin.readline()
    store = StateStore(location)

    def count(rows):  # read, decide, write: lost updates unless writers take turns
        streak = rows.get("", {}).get("streak", 0)
        return {"": {"status": "WARNING", "streak": streak + 1, "recent": []}}, None

    for number in range(int(sys.argv[2])):
        now = datetime.now(UTC)
        run = RunResult(new_run_id(), "order-health", started=now, inputs={"n": number})
        store.start_run(run)
        run.steps = [
            StepResult(f"step-{i}", "Step", "sql", values={"rows": [{"i": i}] * 20},
                       attempts=[Attempt(1, now, 0.01, "ok")])
            for i in range(3)
        ]
        run.ended, run.status = now + timedelta(seconds=1), Status.OK
        store.finish_run(run)
        store.update_alerts("order-health", count)
    store.close()
    print("done", flush=True)
    """
)


def test_concurrent_writers_in_two_processes_do_not_fail(where: Where) -> None:
    runs_each = 60
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, where.argument(), str(runs_each), str(REPO)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for writer in writers:
        assert writer.stdout.readline() == "ready\n"
    for writer in writers:  # both open the fresh file (and migrate it) at the same moment
        writer.stdin.write("go\n")
        writer.stdin.flush()
    results = [writer.communicate(timeout=120) for writer in writers]

    for writer, (out, err) in zip(writers, results, strict=True):
        assert (writer.returncode, out, err) == (0, "done\n", ""), err
    assert where.rows("SELECT COUNT(*), COUNT(DISTINCT pid) FROM runs") == [(2 * runs_each, 2)]
    assert where.rows("SELECT COUNT(*) FROM step_results") == [(6 * runs_each,)]
    assert where.rows("SELECT version FROM schema_version ORDER BY version") == [
        (version,) for version in range(1, SCHEMA_VERSION + 1)
    ]
    # Each writer read the streak and wrote it plus one: none of the 120 was lost.
    assert where.rows("SELECT streak FROM alert_state") == [(2 * runs_each,)]


@pytest.mark.integration
def test_secrets_never_reach_a_postgres_store(postgres: Any) -> None:  # noqa: F811
    for spec in postgres_schema(postgres):
        where = Where("postgres", spec)
        run = order_health_run(secret=SECRET)
        run.steps[0].values["rows"] = [{"note": f"password was {SECRET}", "marker": "VISIBLE-MARK"}]
        with where.open(Masker([SECRET])) as store:
            store.start_run(run)
            store.finish_run(run)
        everything = "".join(
            text
            for table in ("runs", "step_results")
            for (text,) in where.rows(f"SELECT CAST(t AS TEXT) FROM {table} AS t")
        )
        assert "VISIBLE-MARK" in everything  # the search below looks where the data is
        for form in (SECRET, "Xq9-cp-P%40ssw0rd", "pw-none"):
            assert form not in everything, form


# -- where the store is: runner.yaml `state:` ----------------------------------------------


def config_of(tmp_path: Path, state: str) -> Any:
    from runner.language.config import load_config

    (tmp_path / "runner.yaml").write_text(f"state: {state}\n", encoding="utf-8")
    return load_config(tmp_path / "runner.yaml")


@pytest.mark.parametrize(
    ("state", "sqlite_file"),
    [("var/history.db", "var/history.db"), ("{sqlite: data/h.db}", "data/h.db")],
    ids=["path", "sqlite-mapping"],
)
def test_state_names_a_sqlite_file(tmp_path: Path, state: str, sqlite_file: str) -> None:
    config = config_of(tmp_path, state)

    assert config.state_location == tmp_path / sqlite_file
    assert config.state_odbc is None
    assert "state" not in config.connections  # the runner's own read-only default


def test_state_names_a_shared_postgres_database(tmp_path: Path) -> None:
    odbc = "DRIVER={PostgreSQL Unicode};SERVER=db01;DATABASE=ops;UID=${PGUSER};PWD=${PGPASS}"
    config = config_of(tmp_path, f"{{odbc: '{odbc}', timeout: 5s}}")

    spec = config.state_location
    assert isinstance(spec, ConnectionSpec)
    assert (spec.kind, spec.target, spec.dialect, spec.timeout) == ("odbc", odbc, "postgres", 5.0)
    assert spec.origin.endswith("runner.yaml:1")
    assert config.var_dir == tmp_path / "var"  # this host's local locks stay local
    # Checks read history through `state`: the same database, in read-only sessions.
    checks = config.connections["state"]
    assert (checks.kind, checks.dialect) == ("odbc", "postgres")
    assert checks.target == odbc + ";ConnSettings={SET default_transaction_read_only = on}"


@pytest.mark.parametrize(
    ("state", "message"),
    [
        (
            "{odbc: 'DRIVER={MariaDB Unicode};SERVER=db01'}",
            "a shared state store must be PostgreSQL: name the PostgreSQL driver",
        ),
        ("{odbc: 'DSN=history'}", "for a DSN, write dialect: postgres"),
        ("{odbc: 'DSN=history', dialect: mysql}", "'mysql' is not one of: postgres"),
        ("{odbx: 'DSN=history'}", "unknown key 'odbx'"),
        ("{odbc: 'DSN=h', sqlite: h.db}", "'sqlite' and 'odbc' cannot be used together"),
    ],
    ids=["mariadb", "dsn-without-dialect", "other-dialect", "misspelt", "both"],
)
def test_bad_state_settings_are_refused_with_their_line(
    tmp_path: Path, state: str, message: str
) -> None:
    from runner.base.errors import InvalidInput

    with pytest.raises(InvalidInput) as refused:
        config_of(tmp_path, state)

    [problem] = refused.value.problems
    assert message in problem.message
    assert problem.line == 1


def test_an_unreachable_postgres_store_is_a_clear_error_with_secrets_masked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STATE_PW", "s3cr3t-pw")
    spec = ConnectionSpec(
        "state",
        "odbc",
        "DRIVER={PostgreSQL Unicode};SERVER=127.0.0.1;PORT=1;DATABASE=ops;UID=u;PWD=${STATE_PW}",
        "postgres",
        timeout=2,
    )
    with pytest.raises(ConfigError) as refused:
        StateStore(spec)

    text = str(refused.value)
    assert text.startswith("PostgreSQL 127.0.0.1:1/ops: cannot open the state store: ")
    assert "s3cr3t-pw" not in text


@pytest.mark.integration
def test_a_postgres_store_reconnects_when_the_server_ended_its_session(postgres: Any) -> None:  # noqa: F811
    for spec in postgres_schema(postgres):
        where = Where("postgres", spec)
        with where.open() as store:
            store.finish_run(order_health_run())
            # A restarted server or a firewall's idle cut, while a long run went on.
            where.rows(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
            later = order_health_run(started=START + timedelta(hours=1))
            store.start_run(later)
            store.finish_run(later)
            assert [run["run_id"] for run in store.history()][0] == later.run_id


@pytest.mark.integration
def test_a_postgres_stores_sessions_end_soon_after_their_host_dies(postgres: Any) -> None:  # noqa: F811
    """The server probes every store session's host (the store's own and a run lock's):
    a run of a host that died is found gone within about two minutes (reconcile.py)."""
    from runner.history.backends import KEEPALIVE

    for spec in postgres_schema(postgres):
        with Where("postgres", spec).open() as store:
            sql = (
                "SELECT current_setting('tcp_keepalives_idle') AS idle, "
                "current_setting('tcp_keepalives_interval') AS every, "
                "current_setting('tcp_keepalives_count') AS count"
            )
            [own] = store._backend.query(sql)
            lock = store._backend.connect_session("runbook run x")  # type: ignore[attr-defined]
            try:
                lock_row = tuple(lock.execute(sql).fetchone())
            finally:
                lock.close()
            assert tuple(own.values()) == lock_row == tuple(str(n) for n in KEEPALIVE)
    idle, every, count = KEEPALIVE
    assert idle + every * count <= 120  # the "about two minutes" the docs promise


def test_newest_starts_is_each_runbooks_newest_real_run_running_or_not(where: Where) -> None:
    """Late detection's one query: the newest real run of each runbook, a run still going
    included (it holds its slot), a dry run not (it is no run of the schedule)."""
    with where.open() as store:
        store.finish_run(RunResult(new_run_id(), "nightly", started=START))
        store.finish_run(RunResult(new_run_id(), "nightly", started=START + timedelta(hours=1)))
        store.finish_run(
            RunResult(new_run_id(), "nightly", mode="dry-run", started=START + timedelta(hours=2))
        )
        store.finish_run(RunResult(new_run_id(), "hourly", started=START))
        store.start_run(RunResult(new_run_id(), "hourly", started=START + timedelta(minutes=5)))
        store.finish_run(RunResult(new_run_id(), "rehearsed", mode="dry-run", started=START))
        assert store.newest_starts() == {
            "nightly": (START + timedelta(hours=1), False),
            "hourly": (START + timedelta(minutes=5), True),
        }
