"""Messages people can act on, from jsonschema's errors about one document: the file,
line, column and key of each, what is wrong in plain words, and the fix (a did-you-mean,
the allowed values, the expected shape)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from runner.base import durations
from runner.base.errors import Problem
from runner.base.suggest import closest, did_you_mean
from runner.language.marks import format_path, locate

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

# `(?!\n)` after `$`: Python's `$` also matches before a final newline, so without it
# jsonschema would take "abc\n" for a name (ECMA's `$`, which editors use, would not).
_NAME = r"^[a-z0-9][a-z0-9._-]*$(?!\n)"
_IDENTIFIER = r"^[A-Za-z_][A-Za-z0-9_]*$(?!\n)"
_STEP_ID = r"^[A-Za-z_][A-Za-z0-9_-]*$(?!\n)"
_AFTER = r"^\s*\d+\s+of\s+\d+\s*$"

# What a value matching each pattern of the schemas looks like, said as an instruction.
_PATTERN_ADVICE = {
    durations.PATTERN: "is not a duration: write 30s, 5m, 1h30m or 2d",
    _NAME: "is not a valid name: use lowercase letters, digits, '.', '_' and '-', "
    "starting with a letter or digit",
    _IDENTIFIER: "is not a valid identifier: use letters, digits and '_', "
    "starting with a letter or '_'",
    _STEP_ID: "is not a valid step id: use letters, digits, '_' and '-', "
    "starting with a letter or '_'",
    _AFTER: "is not a count of runs: write a number such as 3, or '3 of 5'",
}

# Other names people use for an allowed value; spelling distance alone would offer
# mysql for mssql.
_ALIASES = {
    "mssql": "tsql",
    "sqlserver": "tsql",
    "sql-server": "tsql",
    "postgresql": "postgres",
    "pg": "postgres",
    "mariadb": "mysql",
    "healthcheck": "health-check",
    "health": "health-check",
}

_TYPE_NAMES = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "nothing",
}

_ROOT_HINTS = {
    "runbook": "a runbook is a mapping that starts with `runbook: NAME` and lists `steps:`",
    "check": "a check is a mapping that starts with `check: NAME` and lists `steps:`",
    "runner": "runner.yaml is a mapping of settings such as `connections:` and `state:`",
}


class Explainer:
    """Turns jsonschema errors about one document into Problems."""

    def __init__(self, document: Any, kind: str, filename: str) -> None:
        self.document = document
        self.kind = kind
        self.filename = filename

    def problem(
        self, path: tuple[Any, ...], message: str, hint: str | None = None, at: str = "value"
    ) -> Problem:
        """A Problem at `path`; with at="key", pointing at the last key of `path` itself."""
        mark = locate(self.document, path, at=at)
        line, col = mark if mark else (None, None)
        owner = path[:-1] if at == "key" else path
        return Problem(message, self.filename, line, col, format_path(owner) or None, hint)

    def explain(self, error: ValidationError) -> list[Problem]:
        if isinstance(error.schema, Mapping) and "x-meaning" in error.schema:
            return []  # restates a check of meaning (schema_gen.MEANING), which says it better
        path = tuple(error.absolute_path)
        validator = error.validator
        if "propertyNames" in error.absolute_schema_path:
            return [self._bad_key_name(error, path)]
        if validator in ("anyOf", "oneOf"):
            return self._branches(error, path)
        if validator == "additionalProperties":
            return self._unknown_keys(error, path)
        if validator == "required":
            return self._missing(error, path)
        if validator == "type":
            return [self._wrong_type(error, path)]
        if validator == "enum":
            return [self._not_in_enum(error, path)]
        if validator == "pattern":
            message, hint = _pattern_message(error.instance, error.validator_value)
            return [self.problem(path, message, hint)]
        return [self._limit(error, path)]

    # -- one explanation per kind of error ----------------------------------------------

    def _unknown_keys(self, error: ValidationError, path: tuple[Any, ...]) -> list[Problem]:
        schema = error.schema if isinstance(error.schema, Mapping) else {}
        allowed = list(schema.get("properties", {}))
        patterns = [re.compile(p) for p in schema.get("patternProperties", {})]
        problems = []
        for key in error.instance:
            if key in allowed or any(p.search(str(key)) for p in patterns):
                continue
            hint = did_you_mean(str(key), allowed, _ALIASES)
            if not hint:
                hint = f"allowed keys: {', '.join(allowed)}" if allowed else "remove it"
            problems.append(self.problem((*path, key), f"unknown key {key!r}", hint, at="key"))
        return problems

    def _missing(self, error: ValidationError, path: tuple[Any, ...]) -> list[Problem]:
        if not isinstance(error.instance, Mapping):
            return []
        # A misspelt key is reported once, as unknown with its did-you-mean, not twice.
        return [
            self.problem(path, f"missing required key {key!r}")
            for key in error.validator_value
            if key not in error.instance and not _misspelt(error.instance, [key], error.schema)
        ]

    def _bad_key_name(self, error: ValidationError, path: tuple[Any, ...]) -> Problem:
        key = error.instance
        if error.validator == "pattern":
            message, hint = _pattern_message(key, error.validator_value)
        elif error.validator == "type" and not isinstance(key, str):
            message = f"the key {_literal(key)} must be text"
            hint = (
                "quote it: YAML reads unquoted yes, no, on, off, true, false and numbers as values"
            )
        else:
            message, hint = f"the key {_literal(key)} is not allowed here: {error.message}", None
        return self.problem((*path, key), message, hint, at="key")

    def _wrong_type(self, error: ValidationError, path: tuple[Any, ...]) -> Problem:
        schema = error.schema if isinstance(error.schema, Mapping) else {}
        value = error.instance
        expected = _expected(schema)
        hint = None
        if not path:
            hint = _ROOT_HINTS.get(self.kind)
        elif value is None:
            hint = "give it a value, or remove the key"
        elif _takes_text(schema) and isinstance(value, bool):
            hint = "quote it: YAML reads unquoted yes, no, on, off, true and false as booleans"
        elif _takes_text(schema) and isinstance(value, int | float):
            hint = f"quote it to keep it as text: '{value}'"
        return self.problem(path, f"expected {expected}, got {_show(value)}", hint)

    def _not_in_enum(self, error: ValidationError, path: tuple[Any, ...]) -> Problem:
        choices = [str(choice) for choice in error.validator_value]
        value = error.instance
        if value is None:
            return self.problem(path, f"no value given: choose one of: {', '.join(choices)}")
        hint = did_you_mean(value, choices, _ALIASES) if isinstance(value, str) else None
        return self.problem(path, f"{_literal(value)} is not one of: {', '.join(choices)}", hint)

    def _limit(self, error: ValidationError, path: tuple[Any, ...]) -> Problem:
        """minimum, maximum, minItems, minLength, uniqueItems and anything unforeseen."""
        validator, limit, value = error.validator, error.validator_value, error.instance
        schema = error.schema if isinstance(error.schema, Mapping) else {}
        if validator == "minimum" and schema.get("pattern") == durations.PATTERN:
            message = f"{_literal(value)} is negative: a duration must be 0 or more"
            return self.problem(path, message)
        if validator == "maximum" and schema.get("pattern") == durations.PATTERN:
            return self.problem(path, durations.too_long(value))
        if validator == "minimum":
            return self.problem(path, f"{_literal(value)} is too small: the minimum is {limit}")
        if validator == "exclusiveMinimum":
            return self.problem(path, f"{_literal(value)} is too small: it must be above {limit}")
        if validator == "maximum":
            return self.problem(path, f"{_literal(value)} is too large: the maximum is {limit}")
        if validator == "exclusiveMaximum":
            return self.problem(path, f"{_literal(value)} is too large: it must be below {limit}")
        if validator == "minItems":
            noun = "step" if path and path[-1] in ("steps", "on_failure", "finally") else "item"
            if limit == 1:
                return self.problem(path, f"the list is empty: add at least one {noun}")
            message = f"the list has {len(value)} {noun}s: it needs at least {limit}"
            return self.problem(path, message)
        if validator == "minLength":
            return self.problem(path, "the text is empty", "write a value, or remove the key")
        if validator == "uniqueItems":
            seen: list[Any] = []
            for index, item in enumerate(value):
                if item in seen:
                    message = f"{_literal(item)} is listed more than once"
                    return self.problem((*path, index), message, "remove the repeat")
                seen.append(item)
        return self.problem(path, error.message)

    def _branches(self, error: ValidationError, path: tuple[Any, ...]) -> list[Problem]:
        """anyOf/oneOf: explain the branch the author evidently meant, never the raw schema.

        The branch is the one whose type fits the value and, for mappings, whose required
        keys are present (a connection with `odbc:` meant the ODBC branch). Then all of
        that branch's errors are reported, not only the "best" one.
        """
        branches: list[Any] = error.validator_value
        value = error.instance
        by_branch: dict[int, list[ValidationError]] = {}
        for sub in error.context or ():
            by_branch.setdefault(sub.relative_schema_path[0], []).append(sub)
        candidates = [i for i, branch in enumerate(branches) if _fits_type(branch, value)]
        if not candidates:
            expected = " or ".join(dict.fromkeys(_expected(b) for b in branches))
            return [self.problem(path, f"expected {expected}, got {_show(value)}")]
        if isinstance(value, Mapping) and len(candidates) > 1:
            required = {i: _required(branches[i]) for i in candidates}
            present = [i for i in candidates if required[i] and set(required[i]) <= value.keys()]
            if len(present) > 1:
                return [self._conflict(path, [branches[i] for i in present])]
            if present:
                candidates = present
            elif all(required.values()):
                alternatives = [branches[i] for i in candidates]
                keys = [_required(branch)[0] for branch in alternatives]
                misspelt = [
                    self.problem(
                        (*path, key), f"unknown key {key!r}", f"did you mean {close!r}?", at="key"
                    )
                    for key in value
                    if (close := closest(str(key), keys, _ALIASES))
                ]
                return misspelt or [self._missing_one_of(path, alternatives)]
        if len(candidates) == 1:
            problems: list[Problem] = []
            for sub in by_branch.get(candidates[0], ()):
                problems.extend(self.explain(sub))
            if problems:
                return problems
        from jsonschema.exceptions import best_match

        best = best_match(error.context or ())
        if best is None:
            return [self.problem(path, error.message)]
        return self.explain(best)

    def _conflict(self, path: tuple[Any, ...], branches: list[Mapping[str, Any]]) -> Problem:
        quoted = " and ".join(repr(_required(branch)[0]) for branch in branches)
        return self.problem(
            path, f"{quoted} cannot be used together", f"keep one: {_options(branches)}"
        )

    def _missing_one_of(self, path: tuple[Any, ...], branches: list[Mapping[str, Any]]) -> Problem:
        quoted = " or ".join(repr(_required(branch)[0]) for branch in branches)
        if all(set(branch) == {"required"} for branch in branches):
            hint = "set at least one of them"  # bare alternatives of keys, as in a threshold
        else:
            hint = f"choose one: {_options(branches)}"
        return self.problem(path, f"missing required key {quoted}", hint)


# -- wording helpers -------------------------------------------------------------------


def _misspelt(value: Mapping[str, Any], keys: list[str], schema: Any) -> bool:
    """Whether a key of `value` that `schema` does not know is a misspelling of one of `keys`."""
    known = schema.get("properties", {}) if isinstance(schema, Mapping) else {}
    unknown = [str(key) for key in value if key not in known]
    return any(closest(key, unknown, _ALIASES) for key in keys)


def _options(branches: list[Mapping[str, Any]]) -> str:
    """sqlite (a SQLite file) or odbc (an ODBC data source): from the branches' titles."""
    described = []
    for branch in branches:
        key = _required(branch)[0]
        described.append(f"{key} ({branch['title']})" if branch.get("title") else key)
    return " or ".join(described)


def _pattern_message(value: Any, pattern: str) -> tuple[str, str | None]:
    advice = _PATTERN_ADVICE.get(pattern)
    if advice is None:
        return f"{_literal(value)} does not have the expected form", f"it must match {pattern}"
    hint = None
    suggestion = _suggest(str(value), pattern)
    if suggestion:
        hint = f"did you mean {suggestion!r}?"
    return f"{_literal(value)} {advice}", hint


def _suggest(value: str, pattern: str) -> str | None:
    """A corrected name for a name-like pattern: 'Order Health' -> 'order-health'."""
    if pattern == _NAME:
        fixed = re.sub(r"[^a-z0-9._-]+", "-", value.lower()).strip("-._")
    elif pattern == _IDENTIFIER:
        fixed = re.sub(r"\W+", "_", value).strip("_")
    elif pattern == _STEP_ID:
        fixed = re.sub(r"[^A-Za-z0-9_-]+", "_", value).strip("_-")
    else:
        return None
    return fixed if fixed and fixed != value and re.search(pattern, fixed) else None


def _types(schema: Any) -> list[str]:
    if not isinstance(schema, Mapping):
        return []
    declared = schema.get("type", [])
    return [declared] if isinstance(declared, str) else list(declared)


def _takes_text(schema: Any) -> bool:
    """True when quoting a scalar would make it valid: a string, or a list of strings."""
    types = set(_types(schema))
    items = schema.get("items") if isinstance(schema, Mapping) else None
    strings_list = isinstance(items, Mapping) and items.get("type") == "string"
    return types == {"string"} or (types == {"string", "array"} and strings_list)


def _expected(schema: Any) -> str:
    if isinstance(schema, Mapping) and schema.get("pattern") == durations.PATTERN:
        return "a duration such as 30s, 5m, 1h30m or 2d"
    names = [_TYPE_NAMES.get(name, name) for name in _types(schema)]
    if not names:
        return "something else"
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def _required(schema: Any) -> list[str]:
    return list(schema.get("required", [])) if isinstance(schema, Mapping) else []


_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "object": (Mapping,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}


def _fits_type(schema: Any, value: Any) -> bool:
    declared = _types(schema)
    if not declared:
        return True
    for name in declared:
        if isinstance(value, bool) and name != "boolean":
            continue
        if isinstance(value, _PYTHON_TYPES.get(name, ())):
            return True
    return False


def _literal(value: Any) -> str:
    """A value as the author wrote it in YAML, shortened."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = value if len(value) <= 60 else value[:57] + "..."
        return repr(text)
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return str(value)


def _show(value: Any) -> str:
    """A value with its YAML type: 'ten' (string), 5 (integer), a list."""
    if value is None:
        return "an empty value"
    if isinstance(value, Mapping | list):
        return _literal(value)
    if isinstance(value, bool):
        kind = "boolean"
    elif isinstance(value, int):
        kind = "integer"
    elif isinstance(value, float):
        kind = "number"
    elif isinstance(value, str):
        kind = "string"
    else:
        kind = type(value).__name__
    return f"{_literal(value)} ({kind})"
