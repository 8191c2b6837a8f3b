"""The sql step: a statement (or script) with every template value bound as a parameter.

A step naming a file (`sql: orders/pending.sql`) runs `sql/<dialect>/orders/pending.sql`
when the connection's dialect has its own version, else `sql/orders/pending.sql`. The
runbook is built before connections are known (and `--connection orders=pg` may swap
one), so the file is chosen again here, for the dialect of the connection actually used.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from runner.base.errors import StepError, TransientError
from runner.language import templates
from runner.language.model import Step
from runner.steps.context import StepContext

DIALECTS = ("tsql", "postgres", "mysql", "sqlite", "ansi")


class SqlStep:
    name = "sql"

    @staticmethod
    def _no_connection() -> str:
        raise StepError("this sql step has no connection: set `connection:` on the runbook or step")

    def render(self, step: Step, ctx: StepContext) -> tuple[str, str, list[Any]]:
        """The connection's name, the statement with `?` placeholders, and its values."""
        name = step.connection or ctx.scope.get("__connection__") or self._no_connection()
        connections = ctx.services.connections
        dialect = connections.dialect(name)
        text = step.config
        if step.sql_file:
            text = _dialect_text(step.sql_file, connections.config.sql_dirs, dialect) or text
        sql, params = templates.render_sql(text, ctx.scope, dialect, ctx.where)
        return name, sql, params

    def run(self, step: Step, ctx: StepContext) -> dict[str, Any]:
        # Paid for every statement, so render() is spelled out here: bench/odbc_overhead.py.
        name = step.connection or ctx.scope.get("__connection__") or self._no_connection()
        connections = ctx.services.connections
        dialect = connections.dialect(name)
        text = step.config
        if step.sql_file:
            text = _dialect_text(step.sql_file, connections.config.sql_dirs, dialect) or text
        sql, params = templates.render_sql(text, ctx.scope, dialect, ctx.where)
        try:
            connection = connections.get(name)
        except TransientError:
            connections.reset(name)
            raise
        timeout = ctx.timeout
        query_timeout = connection.spec.query_timeout
        if query_timeout and (not timeout or query_timeout < timeout):
            timeout = query_timeout
        try:
            return connection.execute(sql, params, timeout)
        except TransientError:
            if connection.depth == 0:
                connections.reset(name)  # reconnect on the next attempt
            raise

    def describe(self, step: Step, ctx: StepContext) -> dict[str, Any]:
        name, sql, params = self.render(step, ctx)
        return {"connection": name, "sql": sql.strip(), "params": params, "file": step.sql_file}


def _dialect_text(sql_file: str, sql_dirs: tuple[Path, ...], dialect: str) -> str | None:
    """The text of the file `sql_file` stands for in `dialect`, when that is another file
    than the one the runbook was built with; None to keep the step's own text."""
    path = _other_file(sql_file, sql_dirs, dialect)
    return None if path is None else _read(path)


@lru_cache(maxsize=1024)
def _other_file(sql_file: str, sql_dirs: tuple[Path, ...], dialect: str) -> Path | None:
    # Cached: resolving paths costs system calls, and this runs for every statement.
    path = _dialect_file(sql_file, sql_dirs, dialect)
    if path is None or path == Path(sql_file).resolve():
        return None
    return path


_TEXTS: dict[Path, tuple[tuple[int, int], str]] = {}


def _read(path: Path) -> str:
    """The file's text, read again only when it changed (a long-lived process may run a
    runbook many times while someone edits its SQL)."""
    stat = path.stat()
    version = (stat.st_mtime_ns, stat.st_size)
    cached = _TEXTS.get(path)
    if cached is not None and cached[0] == version:
        return cached[1]
    text = path.read_text(encoding="utf-8")
    _TEXTS[path] = (version, text)
    return text


def _dialect_file(sql_file: str, sql_dirs: tuple[Path, ...], dialect: str) -> Path | None:
    from runner.language.build import find_sql_file

    path = Path(sql_file).resolve()
    for folder in sql_dirs:
        try:
            relative = path.relative_to(folder)
        except ValueError:
            continue
        if len(relative.parts) > 1 and relative.parts[0] in DIALECTS:
            relative = Path(*relative.parts[1:])
        found = find_sql_file(str(relative), sql_dirs, dialect)
        return found.resolve() if found is not None else None
    return None
