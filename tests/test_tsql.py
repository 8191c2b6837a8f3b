"""T-SQL handling without a SQL Server: GO batches, bound EXEC parameters, messages.
(Inference, error classes and the rest of the dialect contract: test_dialects.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.dialects import get
from runner.dialects.scripts import count_placeholders
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
    assert get("tsql").batches(script) == expected  # what the syntax check parses


def test_absurd_go_count_is_refused() -> None:
    for split in (split_batches, get("tsql").batches, get("tsql").split):
        with pytest.raises(
            ValueError, match="line 2: GO 5000 repeats a batch more than 1000 times"
        ):
            split("SELECT 1\nGO 5000")


def test_exec_parameters_are_bound_per_batch() -> None:
    script = (
        "EXEC dbo.usp_RetryStagedOrder @StagingId = ?, @Force = ?\n"
        "GO\n"
        "SELECT VALIDATION_ERROR FROM dbo.USER_ORDER_STAGING WHERE STAGING_ID = ? -- why?\n"
    )
    pieces = get("tsql").split(script)
    assert [count_placeholders(piece) for piece in pieces] == [2, 1]
    assert pieces[0].startswith("EXEC dbo.usp_RetryStagedOrder @StagingId = ?")


def test_go_repeats_become_separate_sends() -> None:
    assert get("tsql").split("INSERT INTO t DEFAULT VALUES\nGO 2\n") == [
        "INSERT INTO t DEFAULT VALUES\n",
        "INSERT INTO t DEFAULT VALUES\n",
    ]


def test_a_script_of_only_comments_is_sent_as_it_is() -> None:
    assert get("tsql").split("-- nothing\nGO\n") == ["-- nothing\nGO\n"]


def test_savepoints_are_save_transaction_without_release() -> None:
    tsql = get("tsql")
    assert tsql.savepoint("sp1") == "SAVE TRANSACTION sp1"
    assert tsql.rollback_to("sp1") == "ROLLBACK TRANSACTION sp1"
    assert tsql.release("sp1") == ""  # the savepoint stays until the transaction ends


def test_identifiers_are_bracketed() -> None:
    assert get("tsql").quote("USER_SYNC_LOG") == "[USER_SYNC_LOG]"
    assert get("tsql").quote("odd]name") == "[odd]]name]"


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


def test_shipped_tsql_files_parse_with_sqlglot() -> None:
    import sqlglot

    from runner.language.sqltemplates import render_sql

    files = sorted((REPO / "sql" / "tsql").rglob("*.sql"))
    assert len(files) >= 8
    for path in files:
        scope = {
            "inputs": _Anything(),
            "order": _Anything(),
            "steps": _Anything(),
            "run": {"id": "r"},
        }
        text, _ = render_sql(path.read_text(encoding="utf-8"), scope, "tsql")
        for batch in split_batches(text):
            parsed = sqlglot.parse(batch.text, read=get("tsql").sqlglot)
            assert parsed and all(type(statement).__name__ != "Command" for statement in parsed), (
                path
            )


class _Anything(dict):
    """Any name, at any depth (`steps.queue.rows`), is a value; as a list, one item."""

    def __getattr__(self, name: str) -> _Anything:
        return _Anything()

    def __getitem__(self, name: str) -> _Anything:
        return _Anything()

    def __iter__(self):  # type: ignore[override]
        return iter([1])
