"""The database sessions a killed run left behind on PostgreSQL, and ending them.

A run's PostgreSQL sessions are named after it (`application_name` "runbook step <run
id>", set when a step's connection opens). When the run's process is killed with kill
-9, a session that is idle ends at once (the server reads the closed socket), but one
that is running a statement or waiting on a lock goes on until the statement ends, and
keeps its locks meanwhile: the next run would wait on them. So before the next run of
that runbook starts, the run service ends the sessions of the runs the state store
found abandoned (history/reconcile.py) with pg_terminate_backend.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from runner.base.errors import ConfigError
from runner.language.config import ConnectionSpec

#: Marks a step's session in pg_stat_activity: "runbook step <run id>".
STEP_APPLICATION = "runbook step "


def step_application(run_id: str) -> str:
    """The application_name of a run's step sessions (63 bytes at most on the server)."""
    return f"{STEP_APPLICATION}{run_id}"


def end_sessions(
    spec: ConnectionSpec, names: Sequence[str], environ: Mapping[str, str] | None = None
) -> list[int]:
    """End every session of the server of `spec` named one of `names`; returns the server
    pids of the sessions ended. Raises ConfigError when the server cannot be asked."""
    if not names:
        return []
    try:
        import pyodbc
    except ImportError as error:  # pragma: no cover - a dependency
        raise ConfigError(f"connection {spec.name!r} needs pyodbc: {error}") from None
    target, _ = spec.resolve(environ)
    marks = ", ".join("?" for _ in names)
    try:
        conn: Any = pyodbc.connect(target, autocommit=True, timeout=max(1, round(spec.timeout)))
    except pyodbc.Error as error:
        raise ConfigError(f"cannot connect to {spec.name!r}: {_first_line(error)}") from None
    try:
        # In the select list, so it runs only for the rows the WHERE kept; CASE because
        # psqlodbc hands booleans over as text.
        rows = conn.execute(
            "SELECT pid, CASE WHEN pg_terminate_backend(pid) THEN 1 ELSE 0 END "
            f"FROM pg_stat_activity WHERE application_name IN ({marks}) "
            "AND pid <> pg_backend_pid()",
            *names,
        ).fetchall()
    except pyodbc.Error as error:
        raise ConfigError(
            f"{spec.name!r}: cannot end the sessions of an abandoned run: {_first_line(error)}"
        ) from None
    finally:
        conn.close()
    return [int(row[0]) for row in rows if int(row[1])]


def _first_line(error: BaseException) -> str:
    from runner.dialects.errors import DriverError

    return DriverError.of(error).first_line or type(error).__name__
