"""A run's deadline on a real server: PostgreSQL's `pg_sleep` is cancelled when the
deadline is reached (through the ODBC watchdog), the rest is not run, and the run ends
UNKNOWN with the perfdata of what finished, recorded."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from runner.base.status import Status
from runner.reports.render import render_run

from .conftest import Backend, configure

pytestmark = pytest.mark.integration


def test_a_postgres_statement_is_cancelled_at_the_deadline(project: Any, postgres: Backend) -> None:
    from runner.history.store import StateStore

    configure(project, postgres)
    project.runbook(
        "slow",
        f"""
        runbook: slow
        connection: {postgres.name}
        deadline: 1s
        steps:
          - id: measure
            sql: SELECT 3 AS depth
            thresholds:
              depth: {{warning: 10}}
          - id: stall
            timeout: 600s
            sql: SELECT pg_sleep(600)
          - id: after
            sql: SELECT 1 AS one
        """,
    )
    results: list[Any] = []
    runner = threading.Thread(target=lambda: results.append(project.run("slow")), daemon=True)
    runner.start()
    # Not a speed test: a statement that was not cancelled would sleep for ten minutes.
    runner.join(timeout=90)
    assert not runner.is_alive(), "the statement was not cancelled"
    run = results[0]
    assert run.status is Status.UNKNOWN and run.outcome == "completed"
    assert run.error == "deadline of 1s reached during step stall"
    assert [step.outcome for step in run.steps] == ["ok", "timed_out", "not_run"]
    first = render_run(run, "nagios").splitlines()[0]
    assert first.startswith("SLOW UNKNOWN - stall: ") and first.endswith("| depth=3;~:10")
    with StateStore(project.library().config.state) as store:
        (row,) = store.history("slow")
    assert row["status"] == "UNKNOWN" and row["error"] == run.error
    # the server runs no statement of the run any more
    left = postgres.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE 'SELECT pg_sleep(600)%'"
    )
    assert left == [(0,)]
