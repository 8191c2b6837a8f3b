"""The dashboard's run page over a PostgreSQL state store (issue 14, point 2): the run
and the previous run of the same runbook are read there as from SQLite."""

from __future__ import annotations

import uuid

import pytest
import requests
from dashboard import running_dashboard

pytestmark = pytest.mark.integration


def test_the_run_page_and_api_over_a_postgresql_store(project, postgres) -> None:
    # a name of its own: the session's database is shared with other tests
    name = f"web-{uuid.uuid4().hex[:8]}"
    project.config(
        "connections:\n"
        "  main: {sqlite: data.db}\n"
        f"state: {{odbc: {postgres.odbc!r}, dialect: postgres}}\n"
    )
    project.sql("CREATE TABLE t (x INTEGER)")
    project.runbook(
        name,
        f"""
        runbook: {name}
        connection: main
        concurrency: allow
        steps:
          - id: pending
            sql: SELECT 12 AS pending_count
            thresholds:
              pending_count: {{warning: 5, critical: 10}}
            hint: Look at the queue.
        """,
    )
    first = project.run(name).run_id
    second = project.run(name).run_id

    with running_dashboard(project.root) as url:
        page = requests.get(f"{url}/runs/{second}", timeout=30)
        api = requests.get(f"{url}/api/runs/{second}", timeout=30).json()
        earlier = requests.get(f"{url}/api/runs/{first}", timeout=30).json()
        missing = requests.get(f"{url}/runs/{second}0", timeout=30)

    assert page.status_code == 200
    assert f'<a href="/runs/{first}" rel="prev">' in page.text
    assert '<p class="hint"><strong>Hint:</strong> Look at the queue.</p>' in page.text
    assert api["previous_run_id"] == first and earlier["previous_run_id"] is None
    (evaluation,) = api["steps"][0]["evaluations"]
    assert (evaluation["value"], evaluation["warning"], evaluation["critical"]) == (12, 5, 10)
    assert missing.status_code == 404
