"""What scripts are made of, for every dialect: batches, statements and placeholders."""

from __future__ import annotations

import re

from runner.base.structs import Struct

LEADING_COMMENTS = re.compile(r"^(?:\s*(?:--[^\n]*\n|/\*.*?\*/|#[^\n]*\n))*", re.S)


class Batch(Struct, frozen=True):
    """One batch of a script: its text, the 1-based line it starts on, and how often it runs."""

    text: str
    line: int
    repeat: int = 1


def split_statements(sql: str) -> list[str]:
    """The statements of a script, split where SQLite itself says a statement ends."""
    if ";" not in sql.rstrip().rstrip(";"):
        return [sql]
    import sqlite3  # stdlib, but not needed to import the dialects (validate starts faster)

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
