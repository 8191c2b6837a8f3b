"""Scripts split into what each driver takes at once, and statements that commit by themselves."""

from __future__ import annotations

import re
import sqlite3

from runner.dialects.tsql import split_batches

# Statements MySQL/MariaDB commit implicitly, so a rehearsal could not roll them back.
_IMPLICIT_COMMIT = re.compile(
    r"^\s*(?:create|alter|drop|rename|truncate|grant|revoke|lock\s+tables|unlock\s+tables"
    r"|load\s+data|analyze\s+table|optimize\s+table|repair\s+table|install|uninstall)\b",
    re.I,
)
LEADING_COMMENTS = re.compile(r"^(?:\s*(?:--[^\n]*\n|/\*.*?\*/|#[^\n]*\n))*", re.S)
# Drivers that accept only one statement per call (MariaDB without MULTI_STATEMENTS, SQLite).
_ONE_STATEMENT_DIALECTS = ("mysql", "sqlite")


def split_statements(sql: str) -> list[str]:
    """SQLite statements in a script, split where SQLite itself says a statement ends."""
    if ";" not in sql.rstrip().rstrip(";"):
        return [sql]
    statements, buffer = [], ""
    for piece in sql.split(";"):
        buffer += piece + ";"
        if sqlite3.complete_statement(buffer):
            if buffer.strip(" \t\r\n;"):
                statements.append(buffer)
            buffer = ""
    if buffer.strip(" \t\r\n;"):
        statements.append(buffer.rstrip(";"))
    return statements


def count_placeholders(sql: str) -> int:
    """`?` placeholders outside quotes and comments."""
    return len(
        re.findall(
            r"\?",
            re.sub(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/", "", sql, flags=re.S),
        )
    )


def statements_of(sql: str, dialect: str) -> list[str]:
    """The pieces to send one by one: GO batches (tsql), statements (mysql, sqlite), or all."""
    if dialect == "tsql":
        pieces: list[str] = []
        for batch in split_batches(sql):
            pieces.extend([batch.text] * batch.repeat)
        return pieces or [sql]
    if dialect in _ONE_STATEMENT_DIALECTS:
        return split_statements(sql)
    return [sql]


def implicitly_commits(sql: str) -> bool:
    """True for a MySQL/MariaDB statement that commits the open transaction by itself."""
    return bool(_IMPLICIT_COMMIT.match(LEADING_COMMENTS.sub("", sql, count=1)))
