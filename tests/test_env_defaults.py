"""Values from the environment with a default, as production and the demos share a
configuration: a SQLite path from `${VAR:-default}` (vars that are templates: test_vars.py)."""

from __future__ import annotations


def test_a_sqlite_path_from_a_variable_is_relative_to_runner_yaml(project, monkeypatch):
    """`sqlite: ${EDI_METRICS_DB:-var/metrics.db}`: relative once expanded, it starts at
    runner.yaml's folder (as a path written without a variable does), not the cwd."""
    import sqlite3

    (project.root / "var").mkdir()
    elsewhere = project.root / "elsewhere.db"
    for path in (project.root / "var" / "metrics.db", elsewhere):
        with sqlite3.connect(path) as db:  # each says which it is
            db.execute(f"CREATE TABLE {path.stem} (x)")
    project.config(
        """
        connections:
          metrics: {sqlite: "${RB_TEST_METRICS_DB:-var/metrics.db}"}
        state: var/runner.db
        """
    )
    project.runbook(
        "t",
        """
        runbook: t
        connection: metrics
        steps:
          - id: file
            sql: SELECT name FROM sqlite_master WHERE type = 'table'
        """,
    )
    (project.root / "sub").mkdir()
    monkeypatch.chdir(project.root / "sub")
    monkeypatch.delenv("RB_TEST_METRICS_DB", raising=False)
    assert project.run("t").steps[0].values["value"] == "metrics"
    monkeypatch.setenv("RB_TEST_METRICS_DB", str(elsewhere))
    assert project.run("t").steps[0].values["value"] == "elsewhere"
    monkeypatch.setenv("RB_TEST_METRICS_DB", "elsewhere.db")  # beside runner.yaml
    assert project.run("t").steps[0].values["value"] == "elsewhere"
