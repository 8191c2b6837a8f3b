"""A shared PostgreSQL state store that cannot be reached (issue 10, point 2): the run
answers with its status and keeps its record in var/spool/; the next run that reaches
the store records it there, once."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from runner.cli import main

pytestmark = pytest.mark.integration

GAUGE = """
runbook: gauge
kind: health-check
connection: main
concurrency: allow  # no run lock session: tests/integration/test_shared_state.py counts them
steps:
  - id: one
    sql: SELECT 7 AS n
    thresholds:
      n: {warning: 5, critical: 10}
"""


@pytest.fixture
def schema(postgres: Any) -> Iterator[str]:
    name = f"spool_{secrets.token_hex(4)}"
    postgres.execute(f"CREATE SCHEMA {name}")
    try:
        yield name
    finally:
        postgres.execute(f"DROP SCHEMA {name} CASCADE")


def _config(project: Any, odbc: str) -> None:
    project.config(
        "connections:\n  main: {sqlite: data.db}\n"
        f"state: {{odbc: {odbc!r}, dialect: postgres, timeout: 2s}}\n"
    )


def test_an_unreachable_postgres_store_spools_and_the_next_run_records_it(
    project: Any, postgres: Any, schema: str, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RUNBOOK_TRIGGER", raising=False)
    project.runbook("gauge", GAUGE)
    closed = postgres.odbc.replace("PORT=5432", "PORT=1")
    _config(project, closed)
    code = main(["run", "gauge", "--format", "json"])
    out, err = capsys.readouterr()
    answer = json.loads(out)
    kept = project.root / "var" / "spool" / f"{answer['run_id']}.json"
    assert (code, answer["status"]) == (1, "WARNING")
    assert answer["not_recorded"].startswith("the run was not recorded: PostgreSQL 127.0.0.1:1/")
    assert "cannot open the state store: [08001]" in answer["not_recorded"]
    assert answer["not_recorded"].endswith(
        f"its record is kept in {kept} until a run can write the store"
    )
    assert err == f"runbook: {answer['not_recorded']}\n" and kept.exists()

    _config(project, f"{postgres.odbc};ConnSettings={{SET search_path TO {schema}}}")
    code = main(["run", "gauge", "--format", "json"])
    out, err = capsys.readouterr()
    assert (code, err, "not_recorded" in json.loads(out)) == (1, "", False)
    rows = postgres.execute(f"SELECT run_id, status FROM {schema}.runs")
    assert dict(rows) == {answer["run_id"]: "WARNING", json.loads(out)["run_id"]: "WARNING"}
    assert not kept.exists()
