"""T-SQL handling without a SQL Server: GO batches, bound EXEC parameters, messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.base.errors import StepError, StepTimeout, TransientError
from runner.dialects.drivers import infer_dialect
from runner.dialects.errors import classify
from runner.dialects.scripts import count_placeholders, implicitly_commits, statements_of
from runner.dialects.tsql import Batch, clean_messages, split_batches

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("script", "expected"),
    [
        ("SELECT 1", [Batch("SELECT 1", 1)]),
        ("SELECT 1\nGO\nSELECT 2\n", [Batch("SELECT 1\n", 1), Batch("SELECT 2\n", 3)]),
        ("SELECT 1\r\ngo\r\nSELECT 2", [Batch("SELECT 1\r\n", 1), Batch("SELECT 2", 3)]),
        ("  GO  \nSELECT 1\n  Go -- end of batch\n", [Batch("SELECT 1\n", 2)]),
        ("PRINT 'x'\nGO 3\n", [Batch("PRINT 'x'\n", 1, 3)]),
        ("SELECT 'a\nGO\nb'\nGO\n", [Batch("SELECT 'a\nGO\nb'\n", 1)]),
        ("/* GO\nGO */ SELECT 1\nGO", [Batch("/* GO\nGO */ SELECT 1\n", 1)]),
        ("/* /* nested */\nGO\n*/ SELECT 1", [Batch("/* /* nested */\nGO\n*/ SELECT 1", 1)]),
        ("SELECT [GO\nGO] FROM t", [Batch("SELECT [GO\nGO] FROM t", 1)]),
        ("SELECT 'it''s'\nGO\nSELECT 2", [Batch("SELECT 'it''s'\n", 1), Batch("SELECT 2", 3)]),
        ("-- only a comment\nGO\n\nGO\nSELECT 1", [Batch("SELECT 1", 5)]),
        ("SELECT 1 -- GO\nGOTO done", [Batch("SELECT 1 -- GO\nGOTO done", 1)]),
        ("SELECT 1; GO", [Batch("SELECT 1; GO", 1)]),  # GO must stand on its own line
    ],
    ids=[
        "no GO",
        "two batches",
        "CRLF and lower case",
        "indented, with a comment",
        "GO with a count",
        "GO inside a string",
        "GO inside a block comment",
        "nested block comments",
        "GO inside a [quoted name]",
        "doubled quote",
        "empty batches dropped",
        "GOTO is not GO",
        "GO after a statement",
    ],
)
def test_split_batches(script: str, expected: list[Batch]) -> None:
    assert split_batches(script) == expected


def test_absurd_go_count_is_refused() -> None:
    with pytest.raises(ValueError, match="line 2: GO 5000 repeats a batch more than 1000 times"):
        split_batches("SELECT 1\nGO 5000")


def test_exec_parameters_are_bound_per_batch() -> None:
    script = (
        "EXEC dbo.usp_RetryStagedOrder @StagingId = ?, @Force = ?\n"
        "GO\n"
        "SELECT VALIDATION_ERROR FROM dbo.USER_ORDER_STAGING WHERE STAGING_ID = ? -- why?\n"
    )
    pieces = statements_of(script, "tsql")
    assert [count_placeholders(piece) for piece in pieces] == [2, 1]
    assert pieces[0].startswith("EXEC dbo.usp_RetryStagedOrder @StagingId = ?")


def test_go_repeats_become_separate_sends() -> None:
    assert statements_of("INSERT INTO t DEFAULT VALUES\nGO 2\n", "tsql") == [
        "INSERT INTO t DEFAULT VALUES\n",
        "INSERT INTO t DEFAULT VALUES\n",
    ]


def test_messages_lose_driver_prefixes() -> None:
    # what pyodbc's cursor.messages holds after PRINT and RAISERROR on SQL Server
    messages = [
        ("[01000] (0)", "[Microsoft][ODBC Driver 18 for SQL Server][SQL Server]Checked 71 rows"),
        ("[01000] (50000)", "[Microsoft][ODBC Driver 18 for SQL Server][SQL Server]Retrying 4"),
        ("[01000] (3621)", "[FreeTDS][SQL Server]The statement has been terminated."),
        ("[00000] (-1)", "NOTICE: hello from PostgreSQL"),
    ]
    assert clean_messages(messages) == [
        "Checked 71 rows",
        "Retrying 4",
        "The statement has been terminated. (error 3621)",
        "NOTICE: hello from PostgreSQL",
    ]


@pytest.mark.parametrize(
    ("connection_string", "dialect"),
    [
        ("DRIVER={ODBC Driver 18 for SQL Server};SERVER=cp;DATABASE=CPSQL", "tsql"),
        ("Driver={FreeTDS};Server=cp;Port=1433;TDS_Version=7.4", "tsql"),
        ("DRIVER={PostgreSQL Unicode};SERVER=127.0.0.1", "postgres"),
        ("DRIVER={MariaDB Unicode};SERVER=127.0.0.1", "mysql"),
        ("DRIVER={MySQL ODBC 8.0 Unicode Driver};SERVER=db", "mysql"),
        ("DRIVER={SQLite3};DATABASE=/tmp/x.db", "sqlite"),
        ("DSN=warehouse", "ansi"),
    ],
)
def test_dialect_from_the_driver_name(connection_string: str, dialect: str) -> None:
    assert infer_dialect(connection_string) == dialect


class _DriverError(Exception):
    """pyodbc.Error's shape: args = (sqlstate, message)."""


@pytest.mark.parametrize(
    ("sqlstate", "text", "kind"),
    [
        (
            "08001",
            "[08001] TCP Provider: No connection could be made (10061) (SQLDriverConnect)",
            TransientError,
        ),
        ("08S01", "[08S01] Communication link failure (10054) (SQLExecDirectW)", TransientError),
        (
            "40001",
            "[40001] Transaction (Process ID 57) was deadlocked ... victim. (1205) (SQLExecDirectW)",
            TransientError,
        ),
        ("40P01", "[40P01] ERROR: deadlock detected (1) (SQLExecDirectW)", TransientError),
        (
            "HY000",
            "[HY000] [ma-3.1.15]Deadlock found when trying to get lock (1213) (SQLExecDirectW)",
            TransientError,
        ),
        (
            "HY000",
            "[HY000] [ma-3.1.15]Can't connect to server on '127.0.0.1' (115) (2002) (SQLDriverConnect)",
            TransientError,
        ),
        (
            "57P01",
            "[57P01] FATAL: terminating connection due to administrator command (35)",
            TransientError,
        ),
        ("HYT00", "[HYT00] Query timeout expired (0) (SQLExecDirectW)", StepTimeout),
        (
            "42S02",
            "[42S02] Invalid object name 'dbo.USER_ORDER_STAGNG'. (208) (SQLExecDirectW)",
            StepError,
        ),
        ("23000", "[23000] Violation of PRIMARY KEY constraint (2627) (SQLExecDirectW)", StepError),
        ("22001", "[22001] ERROR: value too long for type character varying(64) (1)", StepError),
    ],
    ids=[
        "connect refused",
        "link failure",
        "deadlock victim",
        "postgres deadlock",
        "mariadb deadlock",
        "mariadb cannot connect",
        "session terminated",
        "query timeout",
        "unknown table",
        "duplicate key",
        "a number in the message is not a code",
    ],
)
def test_errors_are_classified(sqlstate: str, text: str, kind: type) -> None:
    error = classify("cp", _DriverError(sqlstate, text), 30)
    assert type(error) is kind
    if kind is not StepTimeout:
        assert str(error).startswith("cp: [") and "(SQL" not in str(error)


@pytest.mark.parametrize(
    ("sql", "commits"),
    [
        ("CREATE TABLE t (id INT)", True),
        ("  -- archive first\n/* note */ alter table t add x int", True),
        ("TRUNCATE TABLE t", True),
        ("DROP INDEX i ON t", True),
        ("UPDATE t SET created = 1", False),
        ("INSERT INTO t SELECT * FROM created", False),
        ("SELECT 'CREATE TABLE'", False),
    ],
)
def test_mysql_statements_that_commit_implicitly(sql: str, commits: bool) -> None:
    assert implicitly_commits(sql) is commits


def test_shipped_tsql_files_parse_with_sqlglot() -> None:
    import sqlglot

    from runner.language.templates import render_sql

    files = sorted((REPO / "sql" / "tsql").rglob("*.sql"))
    assert len(files) >= 8
    for path in files:
        text, _ = render_sql(path.read_text(encoding="utf-8"), {"inputs": _Anything()}, "tsql")
        for batch in split_batches(text):
            parsed = sqlglot.parse(batch.text, read="tsql")
            assert parsed and all(type(statement).__name__ != "Command" for statement in parsed), (
                path
            )


class _Anything(dict):
    def __getattr__(self, name: str) -> int:
        return 1

    def __getitem__(self, name: str) -> int:
        return 1
