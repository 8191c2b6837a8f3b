"""`runbook doctor` against the real PostgreSQL: reachable, and a shared state store."""

from __future__ import annotations

import pytest

from runner.cli import main

pytestmark = pytest.mark.integration


def test_doctor_reaches_postgresql_and_its_shared_store(project, postgres, capsys):
    project.config(
        f"""
        connections:
          {postgres.yaml()}
          down: {{odbc: "DRIVER={{PostgreSQL Unicode}};SERVER=127.0.0.1;PORT=1;UID=x", timeout: 2}}
        state: {{odbc: {postgres.odbc!r}}}
        """
    )
    code = main(["doctor"])
    out, _ = capsys.readouterr()
    lines = {line[6:].split(":")[0]: line for line in out.splitlines()[:-1]}
    assert lines["connection pg"] == "ok    connection pg: postgres: SELECT 1 answered"
    assert lines["state store"].startswith("ok    state store: ")
    assert lines["connection state"].startswith("ok    connection state: ")
    assert lines["connection down"].startswith(
        "FAIL  connection down: cannot connect to 'down' (defined at runner.yaml:3): "
    )
    assert code == 1
    assert out.splitlines()[-1].endswith("failed: connection down")
