"""`runbook metrics` over a PostgreSQL state store (issue 14, point 3): the reads of
history/reads.py it adds (runs by status, last successes, the last runs' evaluations)
answer on PostgreSQL as on SQLite, and promtool takes the exposition."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid

import pytest
from prometheus_client.parser import text_string_to_metric_families

from runner.service.metrics import metrics_text

pytestmark = pytest.mark.integration


def test_metrics_of_a_postgresql_store(project, postgres) -> None:
    # a name of its own: the session's database is shared with other tests
    name = f"metrics-{uuid.uuid4().hex[:8]}"
    project.config(
        "connections:\n"
        "  main: {sqlite: data.db}\n"
        f"state: {{odbc: {postgres.odbc!r}, dialect: postgres}}\n"
    )
    project.runbook(
        name,
        f"""
        runbook: {name}
        connection: main
        concurrency: allow
        inputs:
          count: {{type: integer, default: 2}}
        steps:
          - id: outer
            steps:
              - id: pending
                sql: "SELECT {{{{ inputs.count }}}} AS pending_count"
                thresholds:
                  pending_count: {{warning: 10, critical: 50}}
          - id: each
            for_each: [1, 2]
            steps:
              - id: probe
                sql: "SELECT {{{{ item }}}} AS v"
                thresholds:
                  v: {{critical: 5}}
        """,
    )
    assert project.run(name, {"count": 60}).status == "CRITICAL"
    assert project.run(name, {"count": 1}).status == "OK"
    assert project.run(name, {"count": 12}).status == "WARNING"
    text = metrics_text(project.library())
    found = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }

    def value(metric: str, **labels: str) -> float | None:
        return found.get((metric, tuple(sorted(labels.items()))))

    assert value("runbook_last_status", runbook=name) == 1
    for status in ("OK", "WARNING", "CRITICAL"):
        assert value("runbook_stored_runs", runbook=name, status=status) == 1
    assert value("runbook_last_success_timestamp_seconds", runbook=name) is not None
    labels = {"runbook": name, "step": "outer.pending", "threshold": "pending_count"}
    assert value("runbook_threshold_value", **labels, direction="above") == 12
    assert value("runbook_threshold_critical", **labels, direction="above") == 50
    steps = {dict(labels).get("step") for _, labels in found if dict(labels).get("runbook") == name}
    assert steps == {None, "outer.pending"}  # no series per for_each item
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("CI") == "true":
            pytest.fail("promtool is missing: scripts/test installs Debian's prometheus")
        return
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
