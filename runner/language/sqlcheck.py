"""SQL syntax checked per dialect with sqlglot, for `runbook validate`.

Templates are rendered first with a placeholder for every name, so `{{ inputs.id }}`
becomes a bound `?` as at run time. A syntax error is reported where it is: the SQL
file's own path, line and column, or the runbook's file and line for inline SQL.
What sqlglot cannot judge (it falls back to an opaque "command", as for `DO $$...$$` or
procedure bodies, or it fails inside itself) is a warning, never an error: a valid
statement must not fail validation because the parser does not know it. Maintenance
statements sqlglot has no grammar for (VACUUM, REINDEX, OPTIMIZE TABLE) are matched
against the grammar their dialect declares (`Dialect.maintenance`) instead.

sqlglot is imported on first use. The check runs for a Library made with `check_sql=True`,
as `runbook validate` makes it; `runbook run` leaves syntax to the server and starts faster.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from runner import dialects
from runner.base.errors import Problem
from runner.dialects import Dialect

# A Jinja tag: an expression (group 1), a block or a comment.
_TAG = re.compile(r"\{\{(.*?)\}\}|\{%.*?%\}|\{#.*?#\}", re.S)
_INPUT_REF = re.compile(r"\binputs(?:\.([A-Za-z_][A-Za-z0-9_]*)|\[\s*['\"]([^'\"]+)['\"]\s*\])")
# What stands for the n-th template expression when the SQL is tokenized.
_MARKER = re.compile(r"rbtpl(\d+)x")
_IDENTIFIER_FILTER = re.compile(r"\|\s*identifier\s*$")
_TOKEN = re.compile(r"<Token token_type: [^,]*, text: (.*?), line: .*?>")
_CLASS = re.compile(r"<class '(?:[\w]+\.)*(\w+)'>")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_EXPECTING = re.compile(r"Expecting (.+)")
_EXPECTED = re.compile(r"Expected (.+?) but got (.+)")
_REQUIRED = re.compile(r"Required keyword: ")


class _Placeholder:
    """Stands for any value a template reads: every attribute, item and filter works."""

    def __getattr__(self, name: str) -> _Placeholder:
        if name.startswith("__"):
            raise AttributeError(name)
        return self

    def __getitem__(self, key: Any) -> _Placeholder:
        return self

    def __iter__(self) -> Iterator[_Placeholder]:
        return iter([self])

    def __len__(self) -> int:
        return 1

    def __bool__(self) -> bool:
        return True

    def __str__(self) -> str:
        return "placeholder"

    def __repr__(self) -> str:
        return "a placeholder value"

    def __int__(self) -> int:
        return 1

    def __float__(self) -> float:
        return 1.0

    def __eq__(self, other: object) -> bool:
        return True

    __lt__ = __le__ = __gt__ = __ge__ = __eq__

    def __hash__(self) -> int:
        return 1


def render_for_check(text: str, dialect: str) -> str:
    """`text` with every template expression as `?`; raises TemplateError if it cannot."""
    from runner.language.sqltemplates import render_sql
    from runner.language.templates import is_template, referenced_names

    if not is_template(text):
        return text
    scope = {name: _Placeholder() for name in referenced_names(text)}
    sql, _ = render_sql(text, scope, dialect)
    return sql


def check_sql(
    text: str,
    dialect: str,
    file: str,
    line: int = 1,
    col: int = 1,
    key: str | None = None,
    first_line_col: int | None = None,
    templates_checked: bool = True,
) -> list[Problem]:
    """Problems in `text` (SQL with templates) read in `dialect`.

    `line`/`col` say where the text starts in `file`; columns of the first line are
    shifted by `first_line_col` when the text starts mid-line (inline YAML values).
    A template syntax error is left to the runbook's own template check unless
    `templates_checked` is false (a SQL file, which no other check reads).
    """
    found = _problems_in(text, dialect, templates_checked)
    out = []
    for message, at_line, at_col, severity, hint in found:
        shift = (first_line_col if at_line == 1 and first_line_col else col) - 1
        real_col = at_col + shift if at_col else None
        out.append(Problem(message, file, line + at_line - 1, real_col, key, hint, severity))
    return out


# (message, line and column within the text, severity, hint) of one problem of a text
_Found = tuple[str, int, int | None, str, str | None]


@lru_cache(maxsize=4096)
def _problems_in(text: str, dialect: str, templates_checked: bool) -> tuple[_Found, ...]:
    """check_sql's problems of `text`, placed within the text: they depend on the text
    alone, so a text written in many steps is checked once."""
    from runner.base.errors import RunbookError
    from runner.language.templates import syntax_error

    broken = syntax_error(text)
    if broken is not None:
        if templates_checked:
            return ()  # the runbook's template check reports it, once
        message, at_line = broken
        hint = "check the Jinja {{ }} / {% %} pairs"
        return ((f"template syntax error: {message}", at_line or 1, None, "error", hint),)
    misplaced: list[_Found] = [
        (message, at_line, at_col, "error", hint)
        for message, hint, at_line, at_col in _placed(text, misplaced_templates(text, dialect))
    ]
    try:
        sql = render_for_check(text, dialect)
    except RunbookError as error:
        message = f"SQL not checked: its template cannot be rendered with placeholders ({error})"
        return (*misplaced, (message, 1, None, "warning", None))
    parsed = [
        (message, at_line, at_col, severity, None)
        for message, at_line, at_col, severity in _parse(sql, dialect)
    ]
    return (*misplaced, *parsed)


def _position(text: str, offset: int) -> tuple[int, int]:
    """1-based (line, column) of `offset` in `text`."""
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _placed(text: str, found: tuple[tuple[str, str, int], ...]) -> list[tuple[str, str, int, int]]:
    return [(message, hint, *_position(text, offset)) for message, hint, offset in found]


def input_references(text: str) -> list[tuple[str, int, int]]:
    """(input name, line, column) of each `inputs.NAME` a template of `text` reads."""
    out = []
    for tag in _TAG.finditer(text):
        for ref in _INPUT_REF.finditer(tag.group(0)):
            name = ref.group(1) or ref.group(2)
            out.append((name, *_position(text, tag.start() + ref.start())))
    return out


@lru_cache(maxsize=1024)
def misplaced_templates(text: str, dialect: str | None) -> tuple[tuple[str, str, int], ...]:
    """(message, hint, offset in `text`) of each `{{ }}` that a bound parameter cannot
    stand for: inside a quoted SQL string, or as an ORDER BY item.

    Each expression is replaced with a marker word and the SQL is tokenized in its dialect
    (sqlglot's tokenizer knows each dialect's quoting), so a marker inside a string token
    is inside quotes, whatever the escapes."""
    if "{{" not in text:
        return ()
    expressions: list[tuple[str, int]] = []
    pieces: list[str] = []
    position = 0
    for tag in _TAG.finditer(text):
        pieces.append(text[position : tag.start()])
        newlines = "\n" * tag.group(0).count("\n")
        if tag.group(1) is not None:
            pieces.append(f"rbtpl{len(expressions)}x")
            expressions.append((tag.group(1).strip(), tag.start()))
        else:
            pieces.append(" ")
        pieces.append(newlines)
        position = tag.end()
    pieces.append(text[position:])
    try:
        tokens = _tokenize("".join(pieces), dialect)
    except Exception:  # noqa: BLE001 - what cannot be tokenized, the syntax check reports
        return ()
    found: list[tuple[str, str, int]] = []
    for token in tokens:
        if token.token_type.name in ("STRING", "NATIONAL_STRING"):
            for marker in _MARKER.finditer(token.text):
                index = int(marker.group(1))
                if index < len(expressions):
                    expression, offset = expressions[index]
                    found.append(
                        (
                            f"{{{{ {expression} }}}} is inside a quoted SQL string: its value "
                            "is bound as a parameter, so in quotes it would stay literal text",
                            "remove the quotes: `= {{ x }}`, not `= '{{ x }}'`; for a "
                            "pattern, build it in the template: `LIKE {{ '%' ~ x ~ '%' }}`",
                            offset,
                        )
                    )
    found.extend(_order_by_items(tokens, expressions))
    return tuple(sorted(found, key=lambda item: item[2]))


_ENDS_SORT_ITEM = ("COMMA", "ASC", "DESC", "NULLS_FIRST", "NULLS_LAST", "SEMICOLON", "R_PAREN")


def _order_by_items(
    tokens: list[Any], expressions: list[tuple[str, int]]
) -> list[tuple[str, str, int]]:
    """Markers that are a whole ORDER BY item: `ORDER BY {{ x }}`, `, {{ x }} DESC`."""
    found = []
    depth = 0
    in_order_by = False
    for at, token in enumerate(tokens):
        kind = token.token_type.name
        if kind == "ORDER_BY":
            in_order_by, depth = True, 0
            continue
        if not in_order_by:
            continue
        if kind == "L_PAREN":
            depth += 1
        elif kind == "R_PAREN":
            depth -= 1
            if depth < 0:
                in_order_by = False
        elif kind in ("SEMICOLON", "LIMIT", "OFFSET", "FETCH", "UNION", "EXCEPT", "INTERSECT"):
            in_order_by = False
        marker = _MARKER.fullmatch(token.text) if kind == "VAR" and depth == 0 else None
        if marker is None or int(marker.group(1)) >= len(expressions):
            continue
        before = tokens[at - 1].token_type.name
        after = tokens[at + 1].token_type.name if at + 1 < len(tokens) else "SEMICOLON"
        expression, offset = expressions[int(marker.group(1))]
        if (
            before in ("ORDER_BY", "COMMA")
            and after in _ENDS_SORT_ITEM
            and not _IDENTIFIER_FILTER.search(expression)
        ):
            found.append(
                (
                    f"{{{{ {expression} }}}} is an ORDER BY item: it is bound as a parameter, "
                    "a constant, so it cannot choose the column to sort by",
                    "pass a column name through `| identifier`, which checks and quotes it: "
                    "`ORDER BY {{ inputs.sort | identifier }}`; or choose the column with CASE",
                    offset,
                )
            )
    return found


def _tokenize(sql: str, dialect: str | None) -> list[Any]:
    import sqlglot

    name = dialects.get(dialect).sqlglot if dialect else None
    if not name:
        return list(sqlglot.tokenize(sql))
    return list(sqlglot.Dialect.get_or_raise(name).tokenize(sql))


def check_file(path: Path, dialect: str, display: str) -> list[Problem]:
    """Problems in a SQL file; cached by file, modification time and dialect."""
    try:
        stat = path.stat()
    except OSError:
        return []
    return list(_check_file(str(path), stat.st_mtime_ns, stat.st_size, dialect, display))


@lru_cache(maxsize=1024)
def _check_file(
    path: str, mtime_ns: int, size: int, dialect: str, display: str
) -> tuple[Problem, ...]:
    text = Path(path).read_text(encoding="utf-8")
    return tuple(check_sql(text, dialect, display, templates_checked=False))


@lru_cache(maxsize=4096)
def _parse(sql: str, dialect_name: str) -> tuple[tuple[str, int, int | None, str], ...]:
    """(message, line, col, severity) for each problem sqlglot finds, lines 1-based."""
    dialect = dialects.get(dialect_name)
    try:
        batches = dialect.batches(sql)  # T-SQL's GO batches: GO is no SQL to sqlglot
    except ValueError as error:
        return ((str(error), 1, None, "error"),)
    found: list[tuple[str, int, int | None, str]] = []
    for batch in batches:
        for message, at_line, at_col, severity in _parse_one(batch.text, dialect):
            found.append((message, at_line + batch.line - 1, at_col, severity))
    return tuple(found)


@contextmanager
def _quiet_sqlglot() -> Iterator[None]:
    # sqlglot logs "contains unsupported syntax" itself; we report it as a warning instead
    logger = logging.getLogger("sqlglot")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _parse_one(sql: str, dialect: Dialect) -> list[tuple[str, int, int | None, str]]:
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import ParseError, TokenError

    shown = dialect.name if dialect.sqlglot else "generic SQL"
    try:
        with _quiet_sqlglot():
            statements = sqlglot.parse(sql, read=dialect.sqlglot or None)
    except ParseError as error:
        out = []
        for detail in error.errors[:3]:
            highlight = detail.get("highlight") or ""
            line = detail.get("line") or 1
            end = detail.get("col")
            col = max(1, end - len(highlight) + 1) if end else None
            out.append((_does_not_parse(detail, shown), line, col, "error"))
        return out
    except TokenError as error:
        what = _ANSI.sub("", str(error)).removeprefix("Error tokenizing ")
        return [
            (
                f"the SQL cannot be read as {shown}: an unclosed quote or a character it "
                f"does not know in {_excerpt(what.strip(chr(39)))!r}",
                1,
                None,
                "error",
            )
        ]
    except Exception as error:  # noqa: BLE001 - a parser bug must not fail validation
        return [(f"SQL not checked: sqlglot failed on it ({error})", 1, None, "warning")]
    out = []
    for statement in statements:
        if isinstance(statement, exp.Command):
            if _maintenance(statement, dialect):
                continue
            verb = str(statement.this).split()[0].upper() if statement.this else "statement"
            out.append(
                (
                    f"SQL not checked: sqlglot cannot judge this {verb} statement in {shown}",
                    _line_of(sql, verb),
                    None,
                    "warning",
                )
            )
    return out


def _maintenance(statement: Any, dialect: Dialect) -> bool:
    """Whether an opaque command is a maintenance statement of the dialect (VACUUM,
    REINDEX, OPTIMIZE TABLE) written as its grammar says: judged here, not a warning."""
    family = " ".join(str(statement.this or "").split()).upper()
    grammar = dialect.maintenance.get(family)
    if grammar is None:
        return False
    rest = statement.expression.this if statement.expression is not None else ""
    return re.fullmatch(grammar, str(rest).strip().rstrip(";").strip(), re.I | re.S) is not None


def _does_not_parse(detail: dict[str, Any], shown: str) -> str:
    """sqlglot's parse error in plain words with the statement's words where it stops:
    `the SQL does not parse as sqlite near 'FORM orders' ('orders' is not expected here)`,
    not `Invalid expression / Unexpected token. Line 4, Col: 11.` with ANSI underlining."""
    highlight = _ANSI.sub("", detail.get("highlight") or "")
    before = _ANSI.sub("", detail.get("start_context") or "").rsplit("\n", 1)[-1]
    previous = before.rstrip().rsplit(None, 1)[-1] if before.strip() else ""
    gap = before[len(before.rstrip()) :] if previous else ""
    excerpt = _excerpt(f"{previous}{gap}{highlight}")
    near = f" near {excerpt!r}" if excerpt else ""
    return f"the SQL does not parse as {shown}{near} ({_why(detail, highlight)})"


def _why(detail: dict[str, Any], highlight: str) -> str:
    description = _readable(str(detail.get("description") or "")).strip()
    if description.startswith("Invalid expression / Unexpected token"):
        return f"{highlight!r} is not expected here" if highlight else "unexpected word"
    if expecting := _EXPECTING.fullmatch(description):
        return f"expected {expecting.group(1)!r}"
    if expected := _EXPECTED.fullmatch(description):
        return f"expected a {expected.group(1).lower()}, got {expected.group(2)}"
    if _REQUIRED.match(description):
        return f"something is missing before {highlight!r}" if highlight else "incomplete"
    return description[:1].lower() + description[1:] if description else "syntax error"


def _excerpt(text: str, limit: int = 40) -> str:
    words = " ".join(text.split())
    return words if len(words) <= limit else words[: limit - 3] + "..."


def _readable(description: str) -> str:
    """sqlglot's description without Python reprs: `got 'WHERE'`, not `got <Token ...>`."""
    return _CLASS.sub(r"\1", _TOKEN.sub(lambda m: repr(m.group(1)), description))


def _line_of(sql: str, word: str) -> int:
    upper = sql.upper()
    index = upper.find(word)
    return upper.count("\n", 0, index) + 1 if index >= 0 else 1


def dialect_of(spec: Any) -> str | None:
    """The dialect of a connection spec from runner.yaml; None when unknown."""
    if spec is None:
        return None
    return str(spec.sql_dialect())


def relative(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)
