"""order-data-quality, order-performance and order-troubleshoot, unchanged, on PostgreSQL,
MariaDB and SQLite through ODBC (their dialect SQL in sql/<dialect>/orders/): the same
statuses and values as on the embedded SQLite demo seeded with the same `now`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from runner.databases.demo import ensure_demo
from runner.databases.demo_orders import TIME_FORMAT, order_rows

from .conftest import seed_orders
from .test_orders_health import _plain

pytestmark = pytest.mark.integration


def _leaves(steps: list[Any]) -> dict[str, tuple[str, list[dict[str, Any]]]]:
    """Each SQL step, nested ones too, by id: its status and rows as SQLite gives them."""
    found: dict[str, tuple[str, list[dict[str, Any]]]] = {}
    for step in steps:
        if step.children:
            found.update(_leaves(step.children))
        elif "rows" in step.values:
            rows = [{k: _plain(v) for k, v in row.items()} for row in step.values["rows"]]
            found[step.id] = (str(step.status), rows)
    return found


@pytest.mark.parametrize(
    ("runbook", "steps", "status"),
    [
        ("order-data-quality", 2, "WARNING"),
        ("order-performance", 1, "WARNING"),
        ("order-troubleshoot", 5, "CRITICAL"),
    ],
)
def test_the_diagnosis_runbooks_give_the_same_answers_as_the_demo(
    odbc_project, backend, runbook: str, steps: int, status: str
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    seed_orders(backend, now)
    ensure_demo("orders", odbc_project.root / "var" / "demo" / "orders.db", now)

    demo = odbc_project.run(runbook)
    on_server = odbc_project.run(runbook, connections={"orders": backend.name})

    found = _leaves(on_server.steps)
    assert [s.error for s in on_server.steps if s.error and not s.children] == []
    assert len(found) == steps
    assert found == _leaves(demo.steps)
    assert (str(on_server.status), str(demo.status)) == (status, status)
    assert all(rows for _, rows in found.values())
    if runbook == "order-data-quality":
        counts = found["rules"][1][0]
        assert [counts[rule] for rule in ("customer_not_found", "item_not_found")] == [1, 1]
        assert [counts[rule] for rule in ("line_items_missing", "invalid_totals")] == [1, 1]
        assert counts["failing_orders"] == 4
    if runbook == "order-performance":
        # The p95 by nearest rank of the runs in the window, as the demo's rows have them.
        since = (now - timedelta(hours=24)).replace(tzinfo=None)
        seconds = sorted(
            (
                datetime.strptime(end, TIME_FORMAT) - datetime.strptime(start, TIME_FORMAT)
            ).total_seconds()
            for _, kind, start, end, *_ in order_rows(now)["USER_SYNC_LOG"]
            if kind == "order_processing" and datetime.strptime(start, TIME_FORMAT) >= since
        )
        p95 = seconds[-(-len(seconds) * 95 // 100) - 1]
        assert found["rates"][1][0]["p95_run_seconds"] == p95


def test_history_values_come_from_a_postgresql_state_store(project, postgres, capsys) -> None:
    from runner.cli.main import main

    from .conftest import REPO

    project.write(
        "runner.yaml",
        "connections:\n"
        "  orders: {sqlite: var/demo/orders.db, demo: orders}\n"
        f"state: {{odbc: {postgres.odbc!r}, dialect: postgres}}\n"
        f"runbooks: [{REPO / 'runbooks'}]\n"
        f"sql: [{REPO / 'sql'}]\n",
    )
    first = project.run("order-performance")
    second = project.run("order-performance", {"window_hours": "48"})
    names = ["--value", "rates.runs", "--value", "rates.nope"]
    assert main(["history", "order-performance", *names, "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row["run_id"] for row in rows] == [second.run_id, first.run_id]
    assert [row["values"] for row in rows] == [
        {"rates.runs": second.steps[0].values["row"]["runs"], "rates.nope": None},
        {"rates.runs": first.steps[0].values["row"]["runs"], "rates.nope": None},
    ]


@pytest.mark.parametrize("length", [127, 128, 424, 5000])
def test_long_text_parameters_arrive_whole(odbc_project, backend, length: int) -> None:
    """A bound text of 128 characters or more (a LINE_ITEMS_JSON) reaches the server as
    written: MariaDB's driver garbled it as UTF-16 until the dialect sent UTF-8."""
    text = ('{"sku": "CFE-DECAF-12", "name": "Swiss Water Décaf"}, ' * 100)[:length]
    odbc_project.runbook(
        "echo",
        f"""
        runbook: echo
        connection: {backend.name}
        inputs:
          text: {{type: string}}
        steps:
          - id: echo
            sql: SELECT {{{{ inputs.text }}}} AS text, CHAR_LENGTH({{{{ inputs.text }}}}) AS n
        """.replace("CHAR_LENGTH", "LENGTH" if backend.dialect == "sqlite" else "CHAR_LENGTH"),
    )
    run = odbc_project.run("echo", {"text": text})
    assert run.steps[0].error is None
    assert run.steps[0].values["row"] == {"text": text, "n": length}
