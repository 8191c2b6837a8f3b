"""The order health runbook, unchanged, on PostgreSQL, MariaDB and SQLite through ODBC:
the same statuses and values as on the embedded SQLite demo seeded with the same `now`."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from runner.databases.demo import ensure_demo
from runner.databases.demo_orders import TIME_FORMAT

from .conftest import seed_orders

pytestmark = pytest.mark.integration


def _plain(value: Any) -> Any:
    """A value as the embedded SQLite gives it: times as text, numbers as numbers."""
    if isinstance(value, datetime | date):
        return value.strftime(TIME_FORMAT)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, Decimal | float | int):
        return round(float(value), 6)
    return value


def _results(run: Any) -> dict[str, tuple[str, list[dict[str, Any]]]]:
    return {
        step.id: (
            str(step.status),
            [{k: _plain(v) for k, v in row.items()} for row in step.values.get("rows", [])],
        )
        for step in run.steps
    }


def test_order_health_gives_the_same_answers_as_the_demo(odbc_project, backend) -> None:
    # Seeded relative to the servers' clock (this machine's), queried within seconds:
    # every "minutes since" is the same whole number everywhere.
    now = datetime.now(UTC).replace(microsecond=0)
    seed_orders(backend, now)
    ensure_demo("orders", odbc_project.root / "var" / "demo" / "orders.db", now)

    demo = odbc_project.run("order-health")
    on_server = odbc_project.run("order-health", connections={"orders": backend.name})

    assert [s.error for s in on_server.steps] == [None] * 6
    assert _results(on_server) == _results(demo)
    statuses = {step.id: str(step.status) for step in on_server.steps}
    assert statuses == {
        "pending": "CRITICAL",
        "failed_list": "OK",
        "failed": "WARNING",
        "failed_by_error": "OK",
        "last_run": "CRITICAL",
        "history": "CRITICAL",
    }
    rows = {step.id: step.values["row"] for step in on_server.steps}
    assert (rows["pending"]["pending_count"], rows["pending"]["oldest_minutes"]) == (7, 300)
    assert rows["pending"]["stale_count"] == 4
    assert (rows["failed"]["failed_count"], rows["failed"]["dead_letter_count"]) == (4, 2)
    assert rows["last_run"]["minutes_since_last_run"] == 70
    assert rows["last_run"]["last_run_success"] == 0
    assert rows["history"]["failed_runs_24h"] >= 17
    texts = [e.text for step in on_server.steps for e in step.evaluations]
    assert "pending_count = 7 <= warning 10" in texts
    assert "oldest_minutes = 300 > critical 240" in texts
