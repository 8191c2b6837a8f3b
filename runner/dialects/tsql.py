"""T-SQL, SQL Server's dialect: `GO` batches as its tools send them, and the messages they print.

`GO` is not T-SQL: sqlcmd and SSMS split a script on lines holding only `GO` (with an
optional repeat count) and send each batch on its own. ODBC sends text as is, so the
runner does the splitting, outside string literals, quoted identifiers and comments.
PRINT and RAISERROR (severity <= 10) reach the client as informational diagnostics;
pyodbc exposes them as `cursor.messages`, tuples like
`('[01000] (0)', '[Microsoft][ODBC Driver 18 for SQL Server][SQL Server]text')`, which
`clean_messages` turns into the text a person wrote.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from runner.dialects.base import Dialect
from runner.dialects.scripts import Batch

__all__ = ["MAX_GO_REPEAT", "Batch", "Tsql", "clean_messages", "split_batches"]

_GO_LINE = re.compile(r"^[ \t]*go(?:[ \t]+(?P<count>\d+))?[ \t]*(?:--[^\n]*)?$", re.I)
_VENDOR_PREFIX = re.compile(r"^(?:\[[^\]]*\])+\s*")
_STATE_PREFIX = re.compile(r"^\[(?P<state>[0-9A-Z]{5})\]\s*\((?P<code>-?\d+)\)")
MAX_GO_REPEAT = 1000


class Tsql(Dialect):
    """SQL Server, through Microsoft's driver or FreeTDS."""

    name = "tsql"
    title = "SQL Server"
    drivers = ("sql server", "freetds", "tds")
    sqlglot = "tsql"
    quotes = ("[", "]")
    savepoint_sql = "SAVE TRANSACTION {name}"
    rollback_to_sql = "ROLLBACK TRANSACTION {name}"
    release_sql = ""  # SQL Server has no RELEASE: the savepoint stays
    # 1205 deadlock victim, 10053/10054 connection reset, 233/64 pipe closed,
    # 40613/40197/40501 Azure SQL busy or moving the database.
    transient_native = frozenset(("1205", "10053", "10054", "233", "64", "40613", "40197", "40501"))

    def split(self, script: str) -> list[str]:
        """Each `GO` batch on its own, as often as `GO n` says; the script if it has none."""
        pieces: list[str] = []
        for batch in split_batches(script):
            pieces.extend([batch.text] * batch.repeat)
        return pieces or [script]

    def batches(self, script: str) -> list[Batch]:
        return split_batches(script)


def split_batches(script: str) -> list[Batch]:
    """The batches of a T-SQL script, split on `GO` lines outside strings and comments."""
    batches: list[Batch] = []
    lines = script.splitlines(keepends=True)
    state = _ScanState()
    current: list[str] = []
    start = 1
    for number, line in enumerate(lines, start=1):
        match = _GO_LINE.match(line.rstrip("\r\n")) if state.outside else None
        if match:
            count = int(match.group("count") or 1)
            if count > MAX_GO_REPEAT:
                raise ValueError(
                    f"line {number}: GO {count} repeats a batch more than {MAX_GO_REPEAT} times"
                )
            _add(batches, current, start, count)
            current, start = [], number + 1
            continue
        current.append(line)
        state.scan(line)
    _add(batches, current, start, 1)
    return batches


def _add(batches: list[Batch], lines: list[str], start: int, repeat: int) -> None:
    text = "".join(lines)
    if _has_code(text):
        batches.append(Batch(text, start, repeat))


def _has_code(text: str) -> bool:
    stripped = re.sub(r"--[^\n]*|/\*.*?\*/", "", text, flags=re.S)
    return bool(stripped.strip(" \t\r\n;"))


class _ScanState:
    """Whether the text so far ends inside a string, a [quoted] name or a block comment."""

    def __init__(self) -> None:
        self.closing: str | None = None  # what ends the construct we are in
        self.depth = 0  # T-SQL block comments nest

    @property
    def outside(self) -> bool:
        return self.closing is None

    def scan(self, line: str) -> None:
        index = 0
        while index < len(line):
            char, pair = line[index], line[index : index + 2]
            if self.closing == "*/":
                if pair == "/*":
                    self.depth, index = self.depth + 1, index + 2
                    continue
                if pair == "*/":
                    self.depth -= 1
                    if self.depth == 0:
                        self.closing = None
                    index += 2
                    continue
                index += 1
            elif self.closing is not None:
                if char == self.closing:
                    # a doubled quote is an escaped quote, not the end
                    if line[index + 1 : index + 2] == self.closing and self.closing != "]":
                        index += 2
                        continue
                    if self.closing == "]" and line[index + 1 : index + 2] == "]":
                        index += 2
                        continue
                    self.closing = None
                index += 1
            elif pair == "--":
                return
            elif pair == "/*":
                self.closing, self.depth, index = "*/", 1, index + 2
            elif char in "'\"":
                self.closing, index = char, index + 1
            elif char == "[":
                self.closing, index = "]", index + 1
            else:
                index += 1


def clean_messages(messages: Iterable[tuple[str, str]]) -> list[str]:
    """The text of PRINT/RAISERROR/NOTICE messages without driver prefixes, `[state] (code)`
    kept for errors raised with a number of their own (RAISERROR with a message id)."""
    cleaned = []
    for header, text in messages:
        body = _VENDOR_PREFIX.sub("", str(text)).strip()
        match = _STATE_PREFIX.match(str(header))
        code = match.group("code") if match else None
        # RAISERROR('text', ...) without an id reports 50000; PRINT reports 0
        if code and code not in ("0", "-1", "50000"):
            body = f"{body} (error {code})"
        cleaned.append(body)
    return cleaned
