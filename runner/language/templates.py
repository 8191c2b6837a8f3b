"""Sandboxed Jinja for runbook templates, conditions and SQL.

Three uses, one environment:
- `render_value`: a template string (or a structure holding them) becomes its value;
  a string that is exactly one `{{ expression }}` keeps the expression's type.
- `evaluate`: a condition written without braces (`when`, `until`, `assert`).
- SQL (`render_sql` in sqltemplates.py): every `{{ expression }}` becomes a bind
  parameter `?` and its value goes to the parameter list, so no input ever becomes SQL
  text. Lists expand through `| in_list` to `(?, ?, ?)`; trusted identifiers pass
  `| identifier` (validated, quoted). The filters and `sql_text` are here, in the one
  environment.

Undefined names are errors that name what is missing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from types import CodeType
from typing import Any

from jinja2 import (
    BytecodeCache,
    StrictUndefined,
    Template,
    TemplateSyntaxError,
    Undefined,
    nodes,
    pass_context,
)
from jinja2.environment import TemplateExpression
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.parser import Parser
from jinja2.sandbox import SandboxedEnvironment

from runner import dialects
from runner.base.durations import parse_duration
from runner.base.errors import TemplateError
from runner.language.filters import hmac_sha256, minutes_since
from runner.language.sandbox import (
    MAX_OUTPUT,
    BoundedSandbox,
    bounded_center,
    bounded_format,
    bounded_indent,
    too_large,
)

#: The names under which a SQL template's scope holds its bound values and its dialect
#: (sqltemplates.render_sql); an ordinary template's scope has neither.
SQL_BINDS = "__sql_binds__"
SQL_DIALECT = "__sql_dialect__"
# Used with fullmatch: `match` with `$` would also take a trailing newline.
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*){0,2}")
_SINGLE_EXPRESSION = re.compile(r"^\s*\{\{(?P<expr>(?:(?!\}\}|\{\{).)*)\}\}\s*$", re.S)


class _Undefined(StrictUndefined):
    """Says which name or key is missing, and what was there instead."""

    __slots__ = ()

    @property
    def _undefined_message(self) -> str:
        if self._undefined_hint:
            return self._undefined_hint
        obj = self._undefined_obj
        name = self._undefined_name
        if obj is not None and obj.__class__.__name__ != "_MissingType":
            if isinstance(obj, Mapping):
                known = ", ".join(sorted(str(k) for k in obj)[:12]) or "nothing"
                return f"no key {name!r} here (it has: {known})"
            return f"{type(obj).__name__} has no attribute {name!r}"
        return f"{name!r} is undefined"


class InList:
    __slots__ = ("items",)

    def __init__(self, items: Any) -> None:
        if isinstance(items, str | bytes) or not hasattr(items, "__iter__"):
            raise TemplateError(f"in_list needs a list, got {type(items).__name__}")
        self.items = list(items)


class SqlIdentifier(str):
    __slots__ = ()


def _in_list(value: Any) -> InList:
    return InList(value)


def _identifier(value: Any) -> SqlIdentifier:
    text = str(value)
    if not _IDENTIFIER.fullmatch(text):
        raise TemplateError(
            f"{text!r} is not a safe SQL identifier: use letters, digits and underscores, "
            "optionally schema.table"
        )
    return SqlIdentifier(text)


def _minutes(value: Any) -> float:
    minutes = parse_duration(value) / 60
    return int(minutes) if minutes == int(minutes) else minutes


def _seconds(value: Any) -> float:
    seconds = parse_duration(value)
    return int(seconds) if seconds == int(seconds) else seconds


@pass_context
def _finalize(context: Any, value: Any) -> Any:
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    binds = context.get(SQL_BINDS)
    if binds is None:  # an ordinary template: identifiers and lists print plainly
        if isinstance(value, InList):
            return ", ".join(str(item) for item in value.items)
        return value
    return sql_text(value, binds, context.get(SQL_DIALECT))


def sql_text(value: Any, binds: list[Any], dialect: str) -> str:
    """What one `{{ expression }}` of a SQL template becomes: `?` (its value bound), a
    quoted identifier, or `(?, ?)` for a list."""
    if isinstance(value, SqlIdentifier):
        quote = dialects.get(dialect).quote
        return ".".join(quote(part) for part in value.split("."))
    if isinstance(value, InList):
        if not value.items:
            return "(NULL)"  # IN (NULL) matches nothing, as an empty list should
        binds.extend(value.items)
        return "(" + ", ".join("?" for _ in value.items) + ")"
    binds.append(value)
    return "?"


@lru_cache(maxsize=1)
def environment() -> SandboxedEnvironment:
    env = BoundedSandbox(
        undefined=_Undefined,
        finalize=_finalize,
        autoescape=False,
        keep_trailing_newline=True,
    )
    env.filters.update(
        in_list=_in_list,
        identifier=_identifier,
        minutes=_minutes,
        seconds=_seconds,
        format=bounded_format,
        center=bounded_center,
        indent=bounded_indent,
        hmac_sha256=hmac_sha256,
        minutes_since=minutes_since,
    )
    return env


def _describe(error: Exception) -> str:
    if isinstance(error, TemplateSyntaxError):
        return f"template syntax error on line {error.lineno}: {error.message}"
    if isinstance(error, UndefinedError):
        return f"undefined: {error.message}"
    if isinstance(error, SecurityError):
        return f"not allowed in a template: {error}"
    if isinstance(error, TemplateError):
        return str(error)
    return f"{type(error).__name__}: {error}"


# Where compiled templates are kept between processes (codecache.py); None: compiled in
# memory only. One setting for the process, as the compiled templates below are.
_code_cache: BytecodeCache | None = None


def keep_compiled(cache: BytecodeCache | None) -> None:
    """Keep the code templates compile to in `cache` (a run: codecache.TemplateCodeCache
    under var/cache), so the next process executes it instead of compiling the same text
    again; None compiles in memory only."""
    global _code_cache
    _code_cache = cache


def _compiled(text: str, expression: bool) -> CodeType:
    """The code of a template, or of an expression as `compile_expression` makes it: from
    the code cache when it has this text's, else compiled (and kept there).

    Jinja's bytecode cache is asked directly rather than through a loader: with a loader,
    `{% include %}`, `{% import %}` and `{% extends %}` in a runbook's template would find
    templates by name, which they cannot today."""
    env = environment()
    cache = _code_cache
    if cache is None:
        return env.compile(_expression_tree(text) if expression else text)
    bucket = cache.get_bucket(
        env, f"{'expression' if expression else 'template'}\0{text}", None, text
    )
    if bucket.code is None:
        bucket.code = env.compile(_expression_tree(text) if expression else text)
        cache.set_bucket(bucket)
    return bucket.code


def _expression_tree(text: str) -> nodes.Template:
    """What `Environment.compile_expression` compiles (Jinja 3.1): a template assigning
    the expression to `result`."""
    env = environment()
    parser = Parser(env, text, state="variable")
    try:
        expr = parser.parse_expression()
        if not parser.stream.eos:
            raise TemplateSyntaxError("chunk after expression", parser.stream.current.lineno)
        expr.set_environment(env)
    except TemplateSyntaxError:
        env.handle_exception(source=text)
    return nodes.Template([nodes.Assign(nodes.Name("result", "store"), expr, lineno=1)], lineno=1)


@lru_cache(maxsize=4096)
def _template(text: str) -> Template:
    env = environment()  # what from_string does, with the code from _compiled
    return env.template_class.from_code(env, _compiled(text, False), env.make_globals(None))


@lru_cache(maxsize=4096)
def _expression(text: str) -> TemplateExpression:
    env = environment()  # what compile_expression does, with the code from _compiled
    code = _compiled(text, True)
    template = env.template_class.from_code(env, code, env.make_globals(None))
    return TemplateExpression(template, undefined_to_none=False)


def is_template(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def render(text: str, scope: Mapping[str, Any], where: str = "") -> str:
    """Render a template string to text."""
    try:
        size, out = 0, []
        for chunk in _template(text).generate(scope):
            size += len(chunk)
            if size > MAX_OUTPUT:
                raise too_large("this template", size)
            out.append(chunk)
        return "".join(out)
    except Exception as error:  # noqa: BLE001 - every template failure becomes one error type
        raise TemplateError(_prefix(where) + _describe(error)) from None


def render_title(text: str, scope: Mapping[str, Any]) -> str:
    """A runbook's or step's `title:` as shown: rendered when it is a template. A title
    that cannot be rendered (a name not known yet) is shown as written: a title never
    fails a run."""
    if not is_template(text):
        return text
    try:
        return render(text, scope)
    except TemplateError:
        return text


def unwrap(expression: str) -> str:
    """An expression written as people write templates, `{{ steps.a.value > 0 }}`, as the
    expression inside; anything else as it is."""
    if "{{" not in expression:
        return expression
    match = _SINGLE_EXPRESSION.match(expression)
    return match.group("expr").strip() if match else expression


def evaluate(expression: Any, scope: Mapping[str, Any], where: str = "") -> Any:
    """Evaluate an expression, written without braces (`steps.pending.value > 0`) or in
    them (`{{ steps.pending.value > 0 }}`)."""
    if isinstance(expression, bool | int | float):
        return expression
    try:
        result = _expression(unwrap(expression))(**scope)
    except Exception as error:  # noqa: BLE001
        raise TemplateError(_prefix(where) + _describe(error)) from None
    if isinstance(result, StrictUndefined):
        raise TemplateError(_prefix(where) + f"undefined: {result._undefined_message}")
    return result


def render_value(value: Any, scope: Mapping[str, Any], where: str = "") -> Any:
    """Render every template inside `value`; a lone `{{ expr }}` keeps its native type."""
    if isinstance(value, str):
        if not is_template(value):
            return value
        match = _SINGLE_EXPRESSION.match(value)
        if match:
            return evaluate(match.group("expr").strip(), scope, where)
        return render(value, scope, where)
    if isinstance(value, Mapping):
        return {key: render_value(item, scope, where) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [render_value(item, scope, where) for item in value]
    return value


# The forms most conditions and templates take, read without Jinja's parser (a tenth of
# its cost: validation reads every distinct text, and a runbook of 10,000 steps has
# 10,000 `when:`s): a condition of names with attributes compared with literals or
# names, joined with and/or; a template whose every tag is `{{ name.attribute }}`. Their
# answer is Jinja's (no syntax error; the names are the first word of each path), which
# tests/test_templates.py holds them to. Anything else, Jinja's parser reads.
_WORDS = r"(?:and|or|not|in|is|if|else|true|false|none|True|False|None)\b"  # not names
_PATH = rf"(?!{_WORDS})[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"
_STRING = r"'[^'\\\n{}]*'|\"[^\"\\\n{}]*\""
_OPERAND = rf"(?:{_PATH}|-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?|{_STRING})"
_COMPARISON = rf"(?:not\s+)?{_OPERAND}(?:\s*(?:==|!=|<=|>=|<|>)\s*{_OPERAND})?"

_Pattern = re.Pattern[str]


@lru_cache(maxsize=1)
def _simple_forms() -> tuple[_Pattern, _Pattern, _Pattern, _Pattern]:
    """(a condition, a tag, a lone name, a whole path or a string to skip), compiled on
    first use: a run whose model comes from the validation cache never needs them
    (compiling them is 13 M instructions of start-up)."""
    return (
        re.compile(rf"\s*{_COMPARISON}(?:\s+(?:and|or)\s+{_COMPARISON})*\s*"),
        re.compile(rf"\{{\{{\s*({_PATH})\s*\}}\}}"),
        re.compile(r"\s*[A-Za-z_][A-Za-z0-9_]*\s*"),
        re.compile(rf"(?<![\w.])({_PATH})|{_STRING}"),
    )


def _simple_names(text: str, expression: bool) -> frozenset[str] | None:
    """The names `text` reads when it has one of the simple forms above, else None."""
    condition, tag, lone_name, name_or_string = _simple_forms()
    if expression:
        # a lone name is left to Jinja: its parse tree is the Name itself, which
        # find_all (children only) does not list
        if not condition.fullmatch(text) or lone_name.fullmatch(text):
            return None
        paths = [match.group(1) for match in name_or_string.finditer(text)]
    else:
        if "{%" in text or "{#" in text or "{{{" in text:
            return None
        paths = tag.findall(text)
        if "{{" in tag.sub("", text):  # a tag of another form
            return None
    return frozenset(path.partition(".")[0] for path in paths if path)


@lru_cache(maxsize=4096)
def analyze(
    text: str, expression: bool = False
) -> tuple[tuple[str, int | None] | None, frozenset[str]]:
    """Parse once: (syntax error message and line, or None; top-level names read).

    Validation calls this for every template of every runbook, so it parses without
    compiling: Jinja's code generator is ten times the cost of its parser.
    """
    simple = _simple_names(unwrap(text) if expression else text, expression)
    if simple is not None:
        return None, simple
    env = environment()
    tree: nodes.Node
    try:
        if expression:
            parser = Parser(env, unwrap(text), state="variable")
            tree = parser.parse_expression()
            if not parser.stream.eos:
                token = parser.stream.current
                raise TemplateSyntaxError(f"unexpected {token.type!r}", token.lineno)
        else:
            tree = env.parse(text)
    except TemplateSyntaxError as error:
        return (error.message or "syntax error", error.lineno), frozenset()
    # find_all() walks the children only: an expression that is one name is the root
    names = [*([tree] if isinstance(tree, nodes.Name) else []), *tree.find_all(nodes.Name)]
    loaded = {node.name for node in names if node.ctx == "load"}
    stored = {node.name for node in names if node.ctx in ("store", "param")}
    return None, frozenset(loaded - stored)


def syntax_error(text: str, expression: bool = False) -> tuple[str, int | None] | None:
    """(message, line within text) when `text` is not a valid template/expression."""
    return analyze(text, expression)[0]


def referenced_names(text: str, expression: bool = False) -> set[str]:
    """Top-level names a template reads (`inputs`, `steps`, ...), for validation."""
    return set(analyze(text, expression)[1])


def _prefix(where: str) -> str:
    return f"{where}: " if where else ""


def render_vars(
    variables: Mapping[str, Any], keys: Mapping[str, Any], file: str, scope: Mapping[str, Any]
) -> dict[str, Any]:
    """`variables` rendered var by var, so that one that fails is named with the file and
    line it is written at (`keys`: where each is, Origins; `file` when one is not known):
    `runner.yaml:7:9: vars.base: undefined: no key 'NOPE_URL' here`. A check's vars are
    rendered with it too (check.vars, check.var_keys, check.path)."""
    rendered: dict[str, Any] = {}
    for name, value in variables.items():
        origin = keys.get(name)
        where = str(origin) if origin is not None else f"{file}: vars.{name}"
        rendered[name] = render_value(value, scope, where)
    return rendered
