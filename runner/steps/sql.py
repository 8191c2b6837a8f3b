"""The sql step: a statement (or script) with every template value bound as a parameter.

A step naming a file (`sql: orders/pending.sql`) runs `sql/<dialect>/orders/pending.sql`
when the connection's dialect has its own version, else `sql/orders/pending.sql`. The
runbook is built before connections are known (and `--connection orders=pg` may swap
one), so the file is chosen again here, for the dialect of the connection actually used.

`runbook validate` checks the SQL's syntax in the connection's dialect with sqlglot
(language/sqlcheck.py), pointing into the runbook (inline SQL) or the SQL file.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.base.errors import StepError
from runner.base.paths import display_path
from runner.base.wording import plural, short
from runner.language import sqltemplates
from runner.language.config import STATE_CONNECTION
from runner.language.model import Origin, Step
from runner.language.steptypes import BuildScope, StepChecks, StepConfig
from runner.steps.base import Repeated, StepType
from runner.steps.statement import ReadyStatement

if TYPE_CHECKING:
    from runner.base.errors import Problem
    from runner.databases.connections import Connections
    from runner.language.nodes import Node
    from runner.steps.context import StepContext

DIALECTS = ("tsql", "postgres", "mysql", "sqlite", "ansi")


def is_sql_file(text: str) -> bool:
    """Whether an `sql:` value names a file rather than holding the SQL itself."""
    text = text.strip()
    return "\n" not in text and text.lower().endswith(".sql") and " " not in text


def find_sql_file(name: str, sql_dirs: tuple[Path, ...], dialect: str | None = None) -> Path | None:
    """`sql/<dialect>/<name>` first, then `sql/<name>`."""
    for candidate in _candidates(name, sql_dirs, dialect):
        try:
            if candidate.is_file():
                return candidate
        except OSError:  # a name too long for the file system (ENAMETOOLONG), say
            continue
    return None


def _candidates(name: str, sql_dirs: tuple[Path, ...], dialect: str | None) -> list[Path]:
    candidates: list[Path] = []
    for folder in sql_dirs:
        if dialect:
            candidates.append(folder / dialect / name)
        candidates.append(folder / name)
    return candidates


class SqlConfig(StepConfig, frozen=True):
    """The SQL of a step: its text (a file's, when `sql:` names one) and where it is."""

    text: str | None  # the SQL to run, templates unrendered; None when `sql:` is not text
    origin: Origin  # of the `sql:` value
    written: str | None = None  # the `sql:` value as written (the SQL, or a file name)
    path: Path | None = None  # the file `sql:` names, as found when the runbook was built
    #: the files looked for before `path` and not found (`sql/<dialect>/...`): one that
    #: appears changes which file the step runs, so a kept model depends on them too
    absent: tuple[Path, ...] = ()

    @property
    def file(self) -> str | None:
        """The file, as messages show it."""
        return display_path(self.path) if self.path is not None else None

    @property
    def target(self) -> str | None:
        return self.file


class SqlStep(StepType):
    name = "sql"
    schema = {
        "sql": {
            "type": "string",
            "minLength": 1,
            "description": "SQL to run: inline text, or the path of a file under sql/ (such as "
            "orders/pending.sql). Every {{ expression }} becomes a bind parameter. Result: rows, "
            "row, value, columns, rowcount.",
        }
    }

    # -- loading ----------------------------------------------------------------------------

    def build(self, node: Node, scope: BuildScope) -> SqlConfig:
        sql = node.child("sql")
        written = sql.value if isinstance(sql.value, str) else None
        text, found = written, None
        if written is not None and is_sql_file(written):
            name = scope.connection if isinstance(scope.connection, str) else ""
            spec = scope.config.connections.get(name)
            dialect = spec.dialect if spec is not None else None
            found = find_sql_file(written.strip(), scope.config.sql_dirs, dialect)
            if found is not None:
                text = _read(found)
                tried = _candidates(written.strip(), scope.config.sql_dirs, dialect)
                return SqlConfig(
                    text, sql.origin, written, found, tuple(tried[: tried.index(found)])
                )
        return SqlConfig(text, sql.origin, written, found)

    def templates(self, key: str, node: Node) -> Iterator[tuple[str, Origin]]:
        if isinstance(node.value, str) and is_sql_file(node.value):
            return iter(())  # a file name; the file's templates are checked with the file
        return node.texts()

    def check(self, config: SqlConfig, checks: StepChecks) -> None:
        from runner.language import sqlcheck

        if not checks.connection and checks.kind != "check":
            # a check's sql steps may take their connection from the calling step
            checks.add(
                checks.step,
                "this sql step has no connection",
                "set `connection:` on the runbook or on the step",
                at="key",
            )
        text = config.written
        if text is None:
            return
        name = checks.connection if isinstance(checks.connection, str) else None
        spec = checks.config.connections.get(name or "")
        dialect = sqlcheck.dialect_of(spec) or ("sqlite" if name == STATE_CONNECTION else None)
        if is_sql_file(text):
            sql_dirs = checks.config.sql_dirs
            found = find_sql_file(text.strip(), sql_dirs, dialect)
            if found is None:
                folders = ", ".join(str(p) for p in sql_dirs) or "sql/"
                checks.add(
                    config.origin, f"SQL file {text.strip()!r} not found", f"looked in {folders}"
                )
            else:
                _file_inputs(found, config.origin, checks)
                if dialect and checks.catalog.check_sql:
                    checks.problems.extend(
                        sqlcheck.check_file(found, dialect, sqlcheck.relative(found))
                    )
        elif dialect and checks.catalog.check_sql:
            checks.problems.extend(_inline_problems(text, config.origin, dialect, checks))

    # -- running ----------------------------------------------------------------------------

    @staticmethod
    def _no_connection() -> str:
        raise StepError("this sql step has no connection: set `connection:` on the runbook or step")

    def render(self, step: Step, ctx: StepContext) -> tuple[str, str, list[Any]]:
        """The connection's name, the statement with `?` placeholders, and its values."""
        name = step.connection or ctx.scope.get("__connection__") or self._no_connection()
        connections: Connections = ctx.services.connections
        dialect = connections.dialect(name)
        text = _text(step.config, connections, dialect)
        sql, params = sqltemplates.render_sql(text, ctx.scope, dialect, ctx.where)
        return name, sql, params

    def run(self, step: Step, ctx: StepContext) -> dict[str, Any]:
        # Paid for every statement (bench/odbc_overhead.py), so the statement is made
        # ready once per run, text, connection and place, and kept by the run's
        # Connections. It holds no connection: a parallel loop's items run it in lanes
        # of their own.
        name = step.connection or ctx.scope.get("__connection__") or self._no_connection()
        connections: Connections = ctx.services.connections
        config: SqlConfig = step.config
        text = config.text or ""
        if config.path is not None:  # the file as it is now: it may have been edited
            text = _text(config, connections, connections.dialect(name))
        ready = connections.statements.get(id(config))
        if (
            ready is None
            or ready.text is not text
            or ready.name != name
            or ready.where != ctx.where
        ):
            ready = ReadyStatement(connections, name, text, ctx.where, hold=False)
            connections.statements[id(config)] = ready
        # __call__ by name: a call through the instance goes through C, which costs more
        return ready.__call__(ctx.scope, ctx.timeout)

    def prepare(self, step: Step, ctx: StepContext) -> Repeated:
        """The statement made ready for the items of a loop (engine/lean.py), holding its
        connection from the first item on. Paid once per loop: bench/batch.py."""
        name = step.connection or ctx.scope.get("__connection__") or self._no_connection()
        connections: Connections = ctx.services.connections
        text = _text(step.config, connections, connections.dialect(name))
        return ReadyStatement(connections, name, text, ctx.where, hold=True)

    def describe(self, step: Step, ctx: StepContext) -> dict[str, Any]:
        name, sql, params = self.render(step, ctx)
        return {"connection": name, "sql": sql.strip(), "params": params, "file": step.config.file}

    def statement(self, step: Step, ctx: StepContext) -> dict[str, Any] | None:
        # The dry run's rendering: the one renderer, bound values as they were bound.
        return self.describe(step, ctx)

    def rehearsal(
        self, step: Step, ctx: StepContext, values: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        if values.get("columns"):
            # A statement that returns rows (a SELECT) touches none: say what it returned,
            # as a normal run would (`24 rows`, `failed_orders = 3`).
            return {**self.describe(step, ctx), "returned": _rows_summary(values)}
        return {**self.describe(step, ctx), "rowcount": values.get("rowcount")}

    # -- reading results --------------------------------------------------------------------

    def summary(self, values: Mapping[str, Any]) -> str | None:
        if isinstance(values.get("rows"), list):
            return _rows_summary(values)
        if values.get("rowcount") is not None:
            count = values["rowcount"]
            return "done" if count < 0 else f"{plural(count, 'row')} affected"
        return None

    def rendered_summary(self, rendered: Mapping[str, Any], mode: str) -> str | None:
        if "sql" not in rendered:
            return None
        if mode == "rehearse" and rendered.get("returned") is not None:
            return str(rendered["returned"])
        if mode == "rehearse" and rendered.get("rowcount") is not None:
            return f"would touch {plural(int(rendered['rowcount']), 'row')}"
        where = rendered.get("connection")
        return f"would run SQL on {where}" if where else "would run SQL"


def _rows_summary(values: Mapping[str, Any]) -> str:
    rows = values["rows"]
    columns = list(values.get("columns") or (rows[0].keys() if rows else []))
    if not rows:
        if not columns and values.get("rowcount") is not None:
            # A statement without a result set (UPDATE, DELETE): say what it changed.
            count = values["rowcount"]
            return "done" if count < 0 else f"{plural(count, 'row')} affected"
        return "no rows"
    if len(rows) == 1 and len(columns) == 1:
        # The column name says more than `value`: `pending_count = 3`.
        return f"{columns[0]} = {short(values.get('value', rows[0].get(columns[0])))}"
    if len(rows) == 1:
        pairs = ", ".join(f"{key}={short(val, 20)}" for key, val in rows[0].items())
        return short(f"1 row: {pairs}", 80)
    return plural(len(rows), "row")


def _inline_problems(text: str, origin: Origin, dialect: str, checks: StepChecks) -> list[Problem]:
    """SQL syntax problems of inline SQL, placed where the SQL is in the runbook's file,
    under the key path of `origin` (formatted only for a text that has problems)."""
    found = _placed_problems(text, origin, dialect, checks)
    return [problem._replace(key=origin.key) for problem in found] if found else found


def _placed_problems(text: str, origin: Origin, dialect: str, checks: StepChecks) -> list[Problem]:
    from runner.language import sqlcheck

    if origin.line is None:
        return sqlcheck.check_sql(text, dialect, origin.file)
    line, col = origin.line, origin.col
    lines = checks.source_lines()
    source = lines[line - 1] if line <= len(lines) else ""
    indicator = source[col - 1 : col] if col else ""
    if indicator in ("|", ">"):  # a block scalar starts on the next line
        following = lines[line : line + 1]
        indent = len(following[0]) - len(following[0].lstrip()) if following else 0
        return sqlcheck.check_sql(text, dialect, origin.file, line + 1, indent + 1)
    quoted = 1 if indicator in ("'", '"') else 0
    return sqlcheck.check_sql(
        text, dialect, origin.file, line, (col or 1) + quoted, first_line_col=(col or 1) + quoted
    )


def _file_inputs(path: Path, origin: Origin, checks: StepChecks) -> None:
    """Inputs the SQL file's templates read that the runbook does not declare (inline
    SQL's are checked with the runbook's other templates)."""
    from runner.base.errors import Problem
    from runner.language import sqlcheck

    if checks.inputs is None:
        return
    try:
        text = _read(path)
    except (OSError, UnicodeDecodeError):
        return  # the syntax check and the run say the file cannot be read
    display = sqlcheck.relative(path)
    for name, line, col in sqlcheck.input_references(text):
        if name not in checks.inputs:
            hint = checks.known_hint(name, set(checks.inputs), "inputs") if checks.inputs else ""
            checks.problems.append(
                Problem(
                    f"unknown input {name!r}, read by this SQL file for {origin.key} of "
                    f"{origin.file}:{origin.line}",
                    display,
                    line,
                    col,
                    None,
                    hint or f"declare it under `inputs:` in {origin.file}",
                )
            )


def _text(config: SqlConfig, connections: Connections, dialect: str) -> str:
    """The SQL a step runs on a connection of `dialect`: its own, or the version of its
    file for that dialect, as the file is now."""
    text = config.text or ""
    if config.path is not None:
        text = _dialect_text(config.path, connections.config.sql_dirs, dialect) or text
    return text


def _dialect_text(sql_file: Path, sql_dirs: tuple[Path, ...], dialect: str) -> str | None:
    """The text of the file `sql_file` stands for in `dialect`, when that is another file
    than the one the runbook was built with; None to keep the step's own text."""
    path = _other_file(sql_file, sql_dirs, dialect)
    return None if path is None else _read(path)


@lru_cache(maxsize=1024)
def _other_file(sql_file: Path, sql_dirs: tuple[Path, ...], dialect: str) -> Path | None:
    # Cached: resolving paths costs system calls, and this runs for every statement.
    path = _dialect_file(sql_file, sql_dirs, dialect)
    if path is None or path == sql_file.resolve():
        return None
    return path


_TEXTS: dict[Path, tuple[tuple[int, int], str]] = {}


def _read(path: Path) -> str:
    """The file's text, read again only when it changed (a long-lived process may run a
    runbook many times while someone edits its SQL; `runbook validate` builds a thousand
    runbooks that share a few files)."""
    stat = path.stat()
    version = (stat.st_mtime_ns, stat.st_size)
    cached = _TEXTS.get(path)
    if cached is not None and cached[0] == version:
        return cached[1]
    text = path.read_text(encoding="utf-8")
    _TEXTS[path] = (version, text)
    return text


def _dialect_file(sql_file: Path, sql_dirs: tuple[Path, ...], dialect: str) -> Path | None:
    path = sql_file.resolve()
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
