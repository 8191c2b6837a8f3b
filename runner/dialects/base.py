"""The contract of a SQL dialect: what the runner must know of a database's SQL and driver.

`Dialect` follows the ODBC and SQL standards; a dialect module subclasses it and
overrides what its database does differently, as sqlglot's dialects override the
pieces of its tokenizer and parser that differ. The class attributes are the
declarations; the methods use them and are overridden only where a rule does not fit
in a table (T-SQL's `GO` batches, MySQL's implicit commits).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from runner.base.abort import RunAbort
from runner.base.errors import Aborted, StepError, StepTimeout, TransientError
from runner.dialects.errors import DriverError
from runner.dialects.scripts import Batch

#: Pieces of the maintenance statements' grammars (`Dialect.maintenance`): a name, maybe
#: qualified (`public.wms_stock`, `"Stock"`), a list of them, a parenthesised list.
NAME = r'(?:"[^"]+"|`[^`]+`|[A-Za-z_][\w$]*)(?:\.(?:"[^"]+"|`[^`]+`|[A-Za-z_][\w$]*))?'
NAMES = rf"{NAME}(?:\s*,\s*{NAME})*"
PARENS = r"\([^()]*\)"


class Dialect:
    """One SQL dialect; the registry (runner/dialects/__init__.py) holds one of each."""

    #: What runner.yaml's `dialect:` says, and the folder of its own SQL files (sql/<name>/).
    name: ClassVar[str] = ""
    #: The database as people name it, in messages.
    title: ClassVar[str] = ""
    #: Pieces of ODBC driver names (lower case) that mean this dialect: "freetds".
    drivers: ClassVar[tuple[str, ...]] = ()
    #: sqlglot's name for the dialect (`sqlglot.parse(read=...)`); "" is its generic one.
    sqlglot: ClassVar[str] = ""
    #: The quotes around an identifier; the closing one is doubled inside the name.
    quotes: ClassVar[tuple[str, str]] = ('"', '"')

    #: Maintenance statements sqlglot has no grammar for (it reads them as an opaque
    #: command): the statement's first words, and a regular expression the rest must
    #: match in full (case-insensitive), so `runbook validate` judges them itself.
    maintenance: ClassVar[Mapping[str, str]] = {}

    # -- transactions: statements with {name} for the savepoint ---------------------
    savepoint_sql: ClassVar[str] = "SAVEPOINT {name}"
    rollback_to_sql: ClassVar[str] = "ROLLBACK TO SAVEPOINT {name}"
    #: "" where the server has no RELEASE: the savepoint lasts until the transaction ends.
    release_sql: ClassVar[str] = "RELEASE SAVEPOINT {name}"

    #: One statement returns exactly one result set, so the driver need not be asked
    #: for another (`nextset`, a call per statement). False where a procedure may
    #: return several (T-SQL, MySQL's CALL) or the server is unknown.
    one_result_per_statement: ClassVar[bool] = False
    #: How text parameters are sent (pyodbc's setencoding); None: the driver's default
    #: (UTF-16, SQL_WVARCHAR).
    parameter_encoding: ClassVar[str | None] = None

    # -- errors, by SQLSTATE and by the server's native code ------------------------
    #: SQLSTATEs, or their first characters, worth another attempt: connection
    #: exceptions (08xxx), timeouts and serialization failures.
    transient_sqlstates: ClassVar[tuple[str, ...]] = ("08", "HYT00", "HYT01", "40001")
    #: Native error codes worth another attempt (deadlocks, a dropped connection).
    transient_native: ClassVar[frozenset[str]] = frozenset()
    #: SQLSTATEs of a timeout: the statement's, or the login's.
    timeout_sqlstates: ClassVar[tuple[str, ...]] = ("HYT00", "HYT01")
    #: SQLSTATEs of a cancelled statement: an abort when one is in progress.
    cancelled_sqlstates: ClassVar[frozenset[str]] = frozenset({"HY008"})
    #: SQLSTATEs, or their first characters, that say the session is gone.
    lost_sqlstates: ClassVar[tuple[str, ...]] = ("08",)
    #: Words (lower case) that say the session is gone where no SQLSTATE does; each
    #: tuple's words must all be there. pyodbc: "Attempt to use a closed connection."
    lost_words: ClassVar[tuple[tuple[str, ...], ...]] = (("connection", "closed"),)

    def __repr__(self) -> str:
        return f"<dialect {self.name}>"

    def odbc_connection_string(self, text: str) -> str:
        """The ODBC connection string a runbook's connection opens: `text` with what the
        dialect's driver needs for values to come back as Python types. Default: as is."""
        return text

    # -- scripts ---------------------------------------------------------------------
    def split(self, script: str) -> list[str]:
        """The pieces of a script to send one by one: here the whole script, which the
        driver takes at once."""
        return [script]

    def batches(self, script: str) -> list[Batch]:
        """The parts of a script that client tools send apart, with the line each
        starts on, for the syntax check: here the whole script. Raises ValueError for a
        separator that cannot be used."""
        return [Batch(script, 1)]

    def implicit_commit(self, statement: str) -> str | None:
        """The keyword (CREATE, ...) of a statement the server commits by itself, so
        that a rehearsal could not roll it back; None for any other statement."""
        return None

    # -- identifiers and transactions -----------------------------------------------
    def quote(self, identifier: str) -> str:
        """One identifier (no dots) quoted."""
        left, right = self.quotes
        return f"{left}{identifier.replace(right, right * 2)}{right}"

    def savepoint(self, name: str) -> str:
        return self.savepoint_sql.format(name=name)

    def rollback_to(self, name: str) -> str:
        return self.rollback_to_sql.format(name=name)

    def release(self, name: str) -> str:
        """The statement that releases a savepoint; "" where there is none."""
        return self.release_sql.format(name=name)

    # -- errors ----------------------------------------------------------------------
    def classify(
        self,
        name: str,
        error: BaseException,
        timeout: float,
        cancelled: str | None = None,
        *,
        abort: RunAbort | None = None,
    ) -> StepError | Aborted:
        """The runner's error for a driver's error on connection `name`.

        `cancelled` is "timeout" or "abort" when the watchdog cancelled the statement;
        `abort` is the run's abort signal: once set, a statement that reports itself
        cancelled was cancelled by it, and the Aborted says who stopped the run.
        """
        found = DriverError.of(error)
        sqlstate, text = found.sqlstate, found.text
        aborting = abort is not None and abort.is_set()
        if cancelled == "abort" or (aborting and sqlstate in self.cancelled_sqlstates):
            return Aborted(abort.by if abort is not None else "")
        if cancelled == "timeout" or sqlstate in self.timeout_sqlstates:
            return StepTimeout(f"{name}: statement cancelled after its timeout of {timeout:g}s")
        message = f"{name}: {text}"
        if sqlstate and f"[{sqlstate}]" not in text:
            message += f" (SQLSTATE {sqlstate})"
        if self.is_transient(found):
            return TransientError(message)
        return StepError(message)

    def is_transient(self, error: DriverError) -> bool:
        """Worth another attempt, by its SQLSTATE or its native code. Words never make
        a statement's error transient: its message may quote anything (a table name)."""
        return error.sqlstate.startswith(self.transient_sqlstates) or (
            error.native in self.transient_native
        )

    def connection_lost(self, error: BaseException) -> bool:
        """The session is gone (server restarted, session killed, network cut): worth
        a new connection. Read by SQLSTATE and by words, for statements of our own
        whose messages quote nothing of a user's (the state store's)."""
        found = DriverError.of(error)
        if found.sqlstate.startswith(self.lost_sqlstates):
            return True
        message = found.message.lower()
        return any(all(word in message for word in words) for words in self.lost_words)
