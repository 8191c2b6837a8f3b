"""Retention of the state store (`retention:` in runner.yaml, `runbook prune`) and
SQLite's daily quick_check, on real SQLite files and the real PostgreSQL store."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from integration.conftest import postgres  # noqa: F401 - the session's PostgreSQL database
from test_state import Where, order_health_run, postgres_schema, where  # noqa: F401

from runner.base.errors import ConfigError
from runner.cli.main import main
from runner.history.store import StateStore
from runner.language.config import Retention, load_config
from runner.service.runs import RunRequest, RunService

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


class Clock:
    """An injected clock: tests move it, nothing sleeps."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def record(store: StateStore, runbook: str, ages_in_days: list[float]) -> list[str]:
    """Runs of `runbook` started that many days before NOW, each with a delivery."""
    ids = []
    for number, age in enumerate(ages_in_days):
        started = NOW - timedelta(days=age)
        run_id = f"{started:%Y%m%dT%H%M%S}Z-{runbook[:6]}{number:06d}"
        run = order_health_run(run_id, runbook=runbook, started=started)
        store.finish_run(run)
        store.record_deliveries(
            [
                {
                    "run_id": run_id,
                    "runbook": runbook,
                    "kind": "new",
                    "ok": True,
                    "at": started,
                    "attempts": 1,
                }
            ]
        )
        ids.append(run_id)
    return ids


def counts(where: Where) -> tuple[int, int, int]:  # noqa: F811
    return tuple(  # type: ignore[return-value]
        where.rows(f"SELECT COUNT(*) FROM {table}")[0][0]
        for table in ("runs", "step_results", "deliveries")
    )


def test_old_runs_go_with_their_steps_and_deliveries_but_the_last_n_stay(
    where: Where,  # noqa: F811
) -> None:
    with where.open() as store:
        old_a = record(store, "order-health", [200, 150, 120, 100, 95])
        new_a = record(store, "order-health", [10, 1])
        old_b = record(store, "backup-check", [300, 200])  # rarely run: its last 2 stay
        store.record_deliveries(  # a notify-test long ago: no run
            [
                {
                    "run_id": None,
                    "kind": "test",
                    "ok": True,
                    "at": NOW - timedelta(days=100),
                    "attempts": 1,
                }
            ]
        )
        steps_per_run = counts(where)[1] // 9

        dry = store.prune(90, 2, now=NOW, dry_run=True)
        assert (dry.runs, dry.steps, dry.deliveries) == (5, 5 * steps_per_run, 6)
        assert counts(where) == (9, 9 * steps_per_run, 10)  # nothing removed

        pruned = store.prune(90, 2, now=NOW)
        assert pruned == dry
        assert pruned.per_runbook == {"order-health": 5}
        kept = {row["run_id"] for row in store.history(limit=100)}
        assert kept == set(new_a) | set(old_b)
        assert not kept & set(old_a)
        assert counts(where) == (4, 4 * steps_per_run, 4)
        assert where.rows("SELECT COUNT(*) FROM deliveries WHERE run_id IS NULL") == [(0,)]
        assert store.get_run(old_a[0]) is None
        assert store.get_run(new_a[0])["steps"]  # type: ignore[index]
        assert store.prune(90, 2, now=NOW).runs == 0


def test_keep_counts_the_newest_runs_even_when_all_are_old(where: Where) -> None:  # noqa: F811
    with where.open() as store:
        ids = record(store, "order-health", [400, 300, 200, 100])
        assert store.prune(90, 3, now=NOW).runs == 1
        assert [row["run_id"] for row in store.history()] == ids[:0:-1]


def test_a_limit_bounds_the_work_and_says_it_stopped(tmp_path: Path) -> None:
    with StateStore(tmp_path / "runner.db") as store:
        record(store, "order-health", [200, 190, 180, 170])
        first = store.prune(90, 0, now=NOW, limit=3)
        assert (first.runs, first.complete) == (3, False)
        second = store.prune(90, 0, now=NOW, limit=3)
        assert (second.runs, second.complete) == (1, True)


def write_config(tmp_path: Path, extra: str = "") -> Path:
    (tmp_path / "runbooks").mkdir()
    (tmp_path / "runbooks" / "tiny.yaml").write_text(
        "runbook: tiny\ntitle: Tiny\nsteps:\n  - id: echo\n    command: [echo, hi]\n",
        encoding="utf-8",
    )
    config = tmp_path / "runner.yaml"
    config.write_text(f"state: var/runner.db\n{extra}", encoding="utf-8")
    return config


def test_a_run_prunes_at_most_daily(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, "retention: {days: 30, keep: 1}\n"))
    assert config.retention == Retention(days=30, keep=1)
    clock = Clock()
    with StateStore(config.state) as store:
        record(store, "tiny", [100, 90])
    service = RunService(config, clock=clock)

    service.run(RunRequest("tiny"))  # prunes: the first upkeep of this store
    with StateStore(config.state) as store:
        assert len(store.history("tiny")) == 1  # the run just made; both old ones gone
        [old] = record(store, "tiny", [80])

    clock.now += timedelta(hours=23)
    service.run(RunRequest("tiny"))  # within the day: no prune
    with StateStore(config.state) as store:
        assert len(store.history("tiny")) == 3 and store.get_run(old) is not None

    clock.now += timedelta(hours=2)
    service.run(RunRequest("tiny"))  # a day and more since: prunes again
    with StateStore(config.state) as store:
        assert len(store.history("tiny")) == 3 and store.get_run(old) is None


def test_a_prune_that_fails_is_a_log_line_not_the_runs_status(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path))
    logged: list[str] = []

    class Failing(StateStore):
        def prune(self, *args: Any, **kwargs: Any) -> Any:
            raise ConfigError("disk on fire")

    service = RunService(config, log=logged.append, store=lambda config: Failing(config.state))
    run = service.run(RunRequest("tiny"))
    assert run.status.value == "OK" and run.error is None
    assert [line for line in logged if "pruned" in line] == [
        "runbook: the state store was not pruned: disk on fire"
    ]


def test_runbook_prune_says_what_it_removes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, "retention: {keep: 0}\n")
    with StateStore(tmp_path / "var" / "runner.db") as store:
        record(store, "tiny", [400, 300, 1])

    assert main(["--config", str(config), "prune", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("would remove 2 runs (tiny: 2)")
    assert main(["--config", str(config), "prune", "--dry-run", "--format", "json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert (answer["runs"], answer["dry_run"], answer["days"], answer["keep"]) == (2, True, 90, 0)

    assert main(["--config", str(config), "prune", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["runs"] == 2
    assert main(["--config", str(config), "prune"]) == 0
    assert capsys.readouterr().out.startswith("removed 0 runs")


def test_a_damaged_page_is_reported_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "runner.db"
    clock = Clock()
    with StateStore(path, clock=clock) as store:
        record(store, "order-health", [float(day) for day in range(60)])
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
    assert pages > 8
    with path.open("r+b") as file:  # garbage over a page in the middle of the file
        file.seek(page_size * (pages // 2))
        file.write(b"\xde\xad\xbe\xef" * (page_size // 4))

    StateStore(path, clock=clock).close()  # checked today already: opens (at most daily)
    clock.now += timedelta(days=1, seconds=1)
    with pytest.raises(ConfigError) as raised:
        StateStore(path, clock=clock)
    message = str(raised.value)
    assert message.startswith(f"{path}: the state store is damaged (PRAGMA quick_check: ")
    assert "restore it from a backup, or move it aside" in message
    assert f"mv {path} {path}.damaged" in message
