"""SQL templates rendered to bound parameters: every `{{ expression }}` of a statement
becomes `?` and its value goes to the parameter list, so no input ever becomes SQL text
(lists through `| in_list` become `(?, ?, ?)`, `| identifier` a quoted name).

`render_sql` renders one statement for one scope; `sql_binder` makes a statement ready
once for many scopes. Both take a fast path for the common template whose only tags are
`{{ name.key }}` (`_sql_plan`, `_render_plan`), and Jinja (templates.py) for the rest.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from functools import lru_cache, partial
from typing import Any

from jinja2 import Undefined

from runner.language.templates import (
    SQL_BINDS,
    SQL_DIALECT,
    InList,
    SqlIdentifier,
    environment,
    render,
    sql_text,
)


def render_sql(
    text: str, scope: Mapping[str, Any], dialect: str = "sqlite", where: str = ""
) -> tuple[str, list[Any]]:
    """SQL text with `?` placeholders, and the values to bind to them, in order."""
    binds: list[Any] = []
    if "{{" not in text and "{%" not in text:  # is_template(), without the call
        return text, binds
    plan = _sql_plan(text)
    if plan is not None:
        sql = _render_plan(plan, scope, binds, dialect)
        if sql is not None:
            return sql, binds
        binds.clear()
    sql = render(text, {**scope, SQL_BINDS: binds, SQL_DIALECT: dialect}, where)
    return sql, binds


#: `sql_binder`'s answer: the SQL text and its values for one scope.
SqlBinder = Callable[[Mapping[str, Any]], tuple[str, list[Any]]]


def sql_binder(text: str, dialect: str = "sqlite", where: str = "") -> SqlBinder:
    """`render_sql` of one text made ready once for many scopes (the items of a loop, the
    runs of a step on a schedule): a template's is kept per text, dialect and place (its
    errors name the place), a plain text's per text alone, since neither keeps anything
    of a scope.

    When every tag is a plain `{{ name.key }}` whose keys no dict method shadows, each
    scope's values are looked up in place and the text is the plan's own (see
    `_render_plan`); a scope where a value is not found by plain dict lookups, or is an
    identifier or list made by a filter, is rendered by `render_sql`, as is any other
    template."""
    if "{{" not in text and "{%" not in text:  # is_template(), without the call
        return _plain_binder(text)
    return _template_binder(text, dialect, where)


@lru_cache(maxsize=4096)
def _plain_binder(text: str) -> SqlBinder:
    """A text with no template in it: the same SQL, and nothing to bind, for every scope."""
    return lambda scope: (text, [])


@lru_cache(maxsize=4096)
def _template_binder(text: str, dialect: str, where: str) -> SqlBinder:
    plan = _sql_plan(text)
    if plan is None or any(key in _DICT_ATTRIBUTES for _, keys in plan[1] for key in keys):
        return partial(render_sql, text, dialect=dialect, where=where)
    _, paths, sql = plan

    def bind(scope: Mapping[str, Any]) -> tuple[str, list[Any]]:
        binds = []
        for name, keys in paths:
            value = scope.get(name, _MISSING)
            for key in keys:
                if type(value) is not dict:  # missing, or an object: Jinja's lookup
                    return render_sql(text, scope, dialect, where)
                value = value.get(key, _MISSING)
            if type(value) not in _BOUND_AS_IS and (
                value is _MISSING or isinstance(value, _NOT_PLAIN)
            ):
                return render_sql(text, scope, dialect, where)
            binds.append(value)
        return sql, binds

    return bind


# The fast path of render_sql, taken per statement: a template whose only tags are
# `{{ name.key.key }}` (the common `WHERE id = {{ inputs.id }}`) is split once into text
# and dotted paths, and rendered without building a Jinja context (two thirds of the
# cost of a rendered statement). Anything else, and any lookup that does not find a
# value (so the error is Jinja's own message), goes through Jinja.
_PLAIN_TAG = re.compile(
    r"\{\{[ \t\n]*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)[ \t\n]*\}\}"
)
# Names the Jinja parser reads as constants or operators, not as variables.
_JINJA_WORDS = frozenset(
    ("true", "false", "none", "True", "False", "None", "and", "or", "not", "in", "is", "if")
)
_DICT_ATTRIBUTES = frozenset(dir(dict))
_MISSING = object()
_NOT_PLAIN = (Undefined, SqlIdentifier, InList)  # a tuple: `A | B` builds a union per call
_BOUND_AS_IS = frozenset({int, float, str, bool, type(None)})  # never one of _NOT_PLAIN


# (literal texts, dotted paths between them as (name, keys), the text with `?` for each)
_Plan = tuple[tuple[str, ...], tuple[tuple[str, tuple[str, ...]], ...], str]


@lru_cache(maxsize=4096)
def _sql_plan(text: str) -> _Plan | None:
    """How to render `text` without Jinja, or None when Jinja must render it."""
    if "{%" in text or "{#" in text or "\r" in text:  # blocks, comments; Jinja rewrites \r\n
        return None
    pieces = _PLAIN_TAG.split(text)
    literals, paths = tuple(pieces[0::2]), tuple(p.split(".") for p in pieces[1::2])
    if any("{{" in literal for literal in literals):  # a tag with filters, calls, `-`...
        return None
    if any(path[0] in _JINJA_WORDS for path in paths):
        return None
    return literals, tuple((path[0], tuple(path[1:])) for path in paths), "?".join(literals)


def _render_plan(
    plan: _Plan, scope: Mapping[str, Any], binds: list[Any], dialect: str
) -> str | None:
    """The SQL text as Jinja would render it, or None when a name or key is missing.

    Every value is usually plain and becomes one `?`: then the text is the plan's own,
    the same object each time, which the driver keeps prepared."""
    literals, paths, text = plan
    first = len(binds)
    special = False
    for name, keys in paths:
        value = scope.get(name, _MISSING)
        for key in keys:
            if value is _MISSING:
                return None
            # What the sandbox does for `a.b` (attribute first, then item), without the
            # AttributeError it raises on the way for a plain dict.
            if type(value) is dict and key not in _DICT_ATTRIBUTES:
                value = value.get(key, _MISSING)
            else:
                try:
                    value = environment().getattr(value, key)
                except Exception:  # noqa: BLE001 - Jinja reports it on the slow path
                    return None
        if value is _MISSING:
            return None
        if isinstance(value, _NOT_PLAIN):
            if isinstance(value, Undefined):
                return None
            special = True  # an identifier or list made earlier by a filter: spelled out
        binds.append(value)
    if not special:
        return text
    values = binds[first:]
    del binds[first:]
    out = [literals[0]]
    for value, literal in zip(values, literals[1:], strict=True):
        out.append(sql_text(value, binds, dialect))
        out.append(literal)
    return "".join(out)
