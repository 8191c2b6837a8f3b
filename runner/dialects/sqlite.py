"""SQLite: the embedded default (Python's sqlite3), or a file through the SQLite3 ODBC driver."""

from __future__ import annotations

from runner.base.abort import RunAbort
from runner.base.errors import Aborted, StepError, StepTimeout, TransientError
from runner.dialects.base import NAME, Dialect
from runner.dialects.scripts import split_statements


class SQLite(Dialect):
    """SQLite: one statement per call, as both of its drivers take them."""

    name = "sqlite"
    title = "SQLite"
    drivers = ("sqlite",)
    sqlglot = "sqlite"
    one_result_per_statement = True
    # VACUUM [schema] [INTO file] and REINDEX [name] (ANALYZE sqlglot knows itself).
    maintenance = {
        "VACUUM": rf"(?:(?!INTO\b){NAME})?(?:\s*\bINTO\s+(?:'(?:[^']|'')*'|\?))?",
        "REINDEX": rf"(?:{NAME})?",
    }
    #: What Python's sqlite3 says, having no SQLSTATE, when another attempt may succeed.
    transient_messages = ("database is locked", "database table is locked", "disk i/o error")

    def split(self, script: str) -> list[str]:
        return split_statements(script)


def classify_sqlite3(
    name: str, error: Exception, timeout: float, *, abort: RunAbort | None = None
) -> StepError | Aborted:
    """The runner's error for an error of Python's sqlite3 module (which has no SQLSTATE)
    on connection `name`. "interrupted" is the progress handler stopping a statement:
    for the run's abort once it is set (`abort`), else for its timeout."""
    import sqlite3

    message = str(error)
    if isinstance(error, sqlite3.OperationalError):
        if message == "interrupted" and abort is not None and abort.is_set():
            return Aborted(abort.by)
        if message == "interrupted":
            return StepTimeout(f"query on {name!r} cancelled after {timeout:g}s")
        if any(text in message.lower() for text in SQLite.transient_messages):
            return TransientError(f"{name}: {message}")
    return StepError(f"{name}: {message}")
