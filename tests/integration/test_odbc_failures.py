"""Transient errors, timeouts, transactions and rehearsal on real servers through ODBC."""

from __future__ import annotations

import secrets
import socket
import subprocess
import sys
import threading
from typing import Any

import pytest

from .conftest import REPO, Backend, configure, require_driver, require_pyodbc

pytestmark = pytest.mark.integration

FAST_RETRY = "retry: {attempts: 3, backoff: fixed, delay: 0.1s}"


def _table(backend: Backend, columns: str = "id INTEGER PRIMARY KEY, note VARCHAR(40)") -> str:
    name = f"t_{secrets.token_hex(4)}"
    backend.execute(f"CREATE TABLE {name} ({columns})")
    return name


# --- transient errors ------------------------------------------------------------------


def test_a_session_killed_mid_run_is_reconnected_and_retried(project, postgres) -> None:
    # a second connection to the same server, to end the first one's session
    configure(project, postgres, Backend("admin", "postgres", postgres.odbc))
    project.runbook(
        "killed",
        f"""
        runbook: killed
        connection: pg
        defaults: {{{FAST_RETRY}}}
        steps:
          - id: session
            sql: SELECT pg_backend_pid() AS pid
          - id: kill
            connection: admin
            sql: "SELECT pg_terminate_backend({{{{ steps.session.value }}}}) AS killed"
          - id: after
            sql: SELECT pg_backend_pid() AS pid
        """,
    )
    result = project.run("killed")
    session, kill, after = result.steps
    assert kill.values["value"] in (True, 1, "1")  # psqlodbc reports booleans as text
    assert [a.outcome for a in after.attempts] == ["failed", "ok"]
    assert after.attempts[0].transient
    assert (
        "57P01" in after.attempts[0].error and "terminating connection" in after.attempts[0].error
    )
    assert after.values["value"] != session.values["value"]  # a new session
    assert str(after.status) == "OK" and str(result.status) == "OK"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again when the block ends


@pytest.mark.parametrize(
    "driver",
    ["PostgreSQL Unicode", "MariaDB Unicode"],
    ids=["postgres", "mariadb"],
)
def test_an_unreachable_server_is_critical_after_the_retries(project, driver: str) -> None:
    require_pyodbc()  # skips with the reason (a failure in CI) when pyodbc cannot load
    require_driver(driver)
    port = _closed_port()
    project.config(
        f"""
        connections:
          down: {{odbc: "DRIVER={{{driver}}};SERVER=127.0.0.1;PORT={port};DATABASE=test;UID=root", timeout: 3s}}
        state: var/runner.db
        """
    )
    project.runbook(
        "down",
        f"""
        runbook: down
        kind: processing
        connection: down
        defaults: {{{FAST_RETRY}}}
        steps:
          - id: ping
            sql: SELECT 1
        """,
    )
    done = subprocess.run(
        [sys.executable, "-m", "runner", "run", "down"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=project.root,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "NO_COLOR": "1"},
    )
    output = done.stdout + done.stderr
    assert done.returncode == 2, output
    assert "Traceback" not in output
    assert "CRITICAL" in done.stdout
    assert "cannot connect to 'down'" in done.stdout
    assert "after 3 attempts" in done.stdout
    assert ("Connection refused" in done.stdout) or ("Can't connect" in done.stdout)


# --- timeouts --------------------------------------------------------------------------

SLEEPS = {"postgres": "SELECT pg_sleep(600)", "mysql": "SELECT SLEEP(600)"}


@pytest.mark.parametrize("server", ["postgres", "mariadb"])
def test_a_statement_over_its_timeout_is_cancelled(project, server: str, request) -> None:
    backend: Backend = request.getfixturevalue(server)
    configure(project, backend)
    project.runbook(
        "slow",
        f"""
        runbook: slow
        connection: {backend.name}
        steps:
          - id: slow
            timeout: 1s
            sql: {SLEEPS[backend.dialect]}
          - id: next
            sql: SELECT 1 AS one
        """,
    )
    results: list[Any] = []
    runner = threading.Thread(target=lambda: results.append(project.run("slow")), daemon=True)
    runner.start()
    # Not a speed test: a statement that was not cancelled would sleep for ten minutes.
    runner.join(timeout=90)
    assert not runner.is_alive(), "the statement was not cancelled"
    slow, after = results[0].steps
    assert slow.outcome == "timed_out" and str(slow.status) == "CRITICAL"
    assert "cancelled after its timeout of 1s" in slow.error
    assert after.values["value"] == 1  # the connection is still usable


# --- transactions and rehearsal --------------------------------------------------------


def test_a_failing_statement_in_a_transaction_leaves_nothing_behind(odbc_project, backend) -> None:
    table = _table(backend)
    odbc_project.runbook(
        "tx",
        f"""
        runbook: tx
        kind: processing
        connection: {backend.name}
        steps:
          - id: move
            transaction: true
            steps:
              - id: first
                sql: "INSERT INTO {table} (id, note) VALUES (1, 'one')"
              - id: second
                sql: "INSERT INTO {table} (id, note) VALUES (2, 'two')"
              - id: clash
                sql: "INSERT INTO {table} (id, note) VALUES (1, 'again')"
          - id: after
            sql: SELECT COUNT(*) AS n FROM {table}
        """,
    )
    result = odbc_project.run("tx")
    move = result.steps[0]
    assert str(move.status) == "CRITICAL" and "rolled back" in move.error
    assert [c.id for c in move.children] == ["first", "second", "clash"]
    assert [str(c.status) for c in move.children] == ["OK", "OK", "CRITICAL"]
    assert backend.execute(f"SELECT COUNT(*) FROM {table}") == [(0,)]  # a fresh connection


def test_a_transaction_commits_when_every_statement_succeeds(odbc_project, backend) -> None:
    table = _table(backend)
    odbc_project.runbook(
        "tx",
        f"""
        runbook: tx
        connection: {backend.name}
        steps:
          - id: move
            transaction: true
            steps:
              - sql: "INSERT INTO {table} (id, note) VALUES (1, 'one')"
              - sql: "INSERT INTO {table} (id, note) VALUES (2, 'two')"
        """,
    )
    assert str(odbc_project.run("tx").status) == "OK"
    assert backend.execute(f"SELECT id FROM {table} ORDER BY id") == [(1,), (2,)]


def test_rehearsal_counts_rows_and_rolls_back(odbc_project, backend) -> None:
    table = _table(backend)
    backend.execute(f"INSERT INTO {table} (id, note) VALUES (1, 'a'), (2, 'b'), (3, 'c')")
    odbc_project.runbook(
        "fix",
        f"""
        runbook: fix
        kind: maintenance
        connection: {backend.name}
        steps:
          - id: fix
            sql: "UPDATE {table} SET note = 'fixed' WHERE id >= {{{{ inputs.from_id }}}}"
          - id: group
            transaction: true
            steps:
              - id: purge
                sql: "DELETE FROM {table} WHERE id = 1"
        inputs:
          from_id: {{type: integer, default: 2}}
        """,
    )
    result = odbc_project.run("fix", mode="rehearse")
    fix, group = result.steps
    assert fix.rendered["rowcount"] == 2 and fix.values["rowcount"] == 2
    assert group.children[0].rendered["rowcount"] == 1
    assert str(result.status) == "OK"
    assert backend.execute(f"SELECT id, note FROM {table} ORDER BY id") == [
        (1, "a"),
        (2, "b"),
        (3, "c"),
    ]


def test_rehearsal_refuses_ddl_that_mariadb_would_commit(project, mariadb) -> None:
    backend: Backend = mariadb
    odbc_project = configure(project, backend)
    table = _table(backend)
    backend.execute(f"INSERT INTO {table} (id, note) VALUES (1, 'a')")
    created = f"t_{secrets.token_hex(4)}"
    odbc_project.runbook(
        "ddl",
        f"""
        runbook: ddl
        kind: maintenance
        connection: maria
        steps:
          - id: touch
            sql: "UPDATE {table} SET note = 'changed'"
          - id: create
            sql: |
              -- a new table for the archive
              CREATE TABLE {created} (id INTEGER)
        """,
    )
    result = odbc_project.run("ddl", mode="rehearse")
    touch, create = result.steps
    assert touch.values["rowcount"] == 1
    assert str(create.status) == "CRITICAL" and create.outcome == "failed"
    assert "--rehearse cannot run CREATE here" in create.error
    assert "commit DDL implicitly" in create.error
    assert len(create.attempts) == 1  # refused, not retried
    assert backend.execute(f"SELECT note FROM {table}") == [("a",)]  # the UPDATE rolled back
    tables = backend.execute(
        f"SELECT COUNT(*) FROM information_schema.tables WHERE table_name = '{created}'"
    )
    assert tables == [(0,)]


@pytest.mark.parametrize("server", ["postgres", "sqlite_odbc"])
def test_rehearsal_rolls_back_ddl_where_the_server_can(project, server: str, request) -> None:
    backend: Backend = request.getfixturevalue(server)
    configure(project, backend)
    created = f"t_{secrets.token_hex(4)}"
    project.runbook(
        "ddl",
        f"""
        runbook: ddl
        kind: maintenance
        connection: {backend.name}
        steps:
          - id: create
            sql: CREATE TABLE {created} (id INTEGER)
          - id: fill
            sql: INSERT INTO {created} (id) VALUES (1)
        """,
    )
    result = project.run("ddl", mode="rehearse")
    assert [str(s.status) for s in result.steps] == ["OK", "OK"]
    assert result.steps[1].values["rowcount"] == 1
    with pytest.raises(Exception, match=r"(?i)does not exist|no such table"):
        backend.execute(f"SELECT COUNT(*) FROM {created}")


# --- SIGTERM -----------------------------------------------------------------------------


def test_sigterm_cancels_a_long_statement_and_rolls_back(project, postgres) -> None:
    import json
    import os
    import signal
    import time

    configure(project, postgres)
    table = _table(postgres)
    postgres.execute(f"INSERT INTO {table} (id, note) VALUES (1, 'keep')")
    marker = f"runbook-sigterm-{secrets.token_hex(4)}"
    project.runbook(
        "slow",
        f"""
        runbook: slow
        kind: rollback
        connection: pg
        steps:
          - id: tx
            transaction: true
            steps:
              - id: wipe
                sql: DELETE FROM {table}
              - id: stall
                timeout: 600s
                sql: SELECT pg_sleep(600), '{marker}'
        """,
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "runner", "run", "slow", "--format", "json"],
        cwd=project.root,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    running = f"SELECT COUNT(*) FROM pg_stat_activity WHERE query LIKE '%{marker}%' AND pid <> pg_backend_pid()"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and postgres.execute(running) != [(1,)]:
        time.sleep(0.05)
    assert postgres.execute(running) == [(1,)], "the statement never started"
    process.send_signal(signal.SIGTERM)
    # Not a speed test: without the cancel the statement would run for ten minutes.
    out, err = process.communicate(timeout=60)
    assert process.returncode == 3, err
    data = json.loads(out)
    assert data["outcome"] == "aborted" and "SIGTERM" in data["error"]
    assert "Traceback" not in err
    assert postgres.execute(f"SELECT note FROM {table}") == [("keep",)]


# --- aborting one run of several in one process --------------------------------------


def test_aborting_one_run_cancels_its_statement_and_no_other_run_s(project, postgres) -> None:
    """Two runs in one process, each on its own thread (as the scheduler makes them): the
    abort of one cancels its statement on the server; the other's goes on to its end."""
    import time

    from runner.base.abort import RunAbort
    from runner.service.runs import RunRequest

    configure(project, postgres)
    for name, seconds in (("stopped", 30), ("bystander", 1.5)):
        project.runbook(
            name,
            f"""
            runbook: {name}
            connection: pg
            steps:
              - id: sleep
                timeout: 60s
                sql: SELECT pg_sleep({seconds}) AS slept, '{name}' AS marker
            """,
        )
    service = project.service()
    results: dict[str, Any] = {}
    aborts = {name: RunAbort() for name in ("stopped", "bystander")}
    threads = [
        threading.Thread(
            target=lambda name=name: results.__setitem__(
                name, service.run(RunRequest(name), abort=aborts[name])
            )
        )
        for name in aborts
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 10  # until both statements are on the server
    while time.monotonic() < deadline:
        sleeping = postgres.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(%'"
        )[0][0]
        if sleeping >= 2:
            break
        time.sleep(0.02)
    aborts["stopped"].abort("the test")
    for thread in threads:
        thread.join(timeout=30)
    stopped, bystander = results["stopped"], results["bystander"]
    assert stopped.outcome == "aborted" and stopped.steps[0].outcome == "aborted"
    assert stopped.error == "aborted by the test; open transactions were rolled back"
    assert bystander.outcome == "completed" and str(bystander.status) == "OK"
    assert bystander.steps[0].values["row"]["marker"] == "bystander"
    again = service.run(RunRequest("bystander"))
    assert again.outcome == "completed" and str(again.status) == "OK"
