"""Typed runbook inputs: defaults, `--param name=value` strings, and their checks."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from runner.base.durations import parse_duration
from runner.base.errors import InputError
from runner.base.suggest import did_you_mean
from runner.language.model import InputSpec

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def coerce(spec: Mapping[str, Any] | InputSpec, name: str, value: Any) -> Any:
    """`value` as the declared type; raises ValueError with an instruction."""
    get = (
        spec.get
        if isinstance(spec, Mapping)
        else lambda key, default=None: getattr(spec, _ATTR.get(key) or key, default)
    )
    kind = get("type", "string") or "string"
    result = _convert(kind, value)
    minimum, maximum = get("minimum"), get("maximum")
    if minimum is not None and kind in ("integer", "number", "duration") and result < minimum:
        raise ValueError(f"{result!r} is below the minimum {minimum}")
    if maximum is not None and kind in ("integer", "number", "duration") and result > maximum:
        raise ValueError(f"{result!r} is above the maximum {maximum}")
    choices = get("enum") or ()
    if choices and result not in choices:
        raise ValueError(f"{result!r} is not one of: {', '.join(map(str, choices))}")
    return result


_ATTR = {"enum": "choices"}


_INT64 = (-(2**63), 2**63 - 1)


def _in_64_bits(number: int) -> int:
    """A whole number that every database binds (SQLite, PostgreSQL and ODBC take 64 bits)."""
    if not _INT64[0] <= number <= _INT64[1]:
        raise ValueError(
            f"expected a whole number from {_INT64[0]} to {_INT64[1]} (64 bits, what "
            f"databases store), got {number}"
        )
    return number


def _convert(kind: str, value: Any) -> Any:
    if kind == "string":
        if isinstance(value, dict | list):
            raise ValueError(f"expected text, got a {type(value).__name__}")
        return str(value)
    if kind == "integer":
        if isinstance(value, bool):
            raise ValueError(f"expected a whole number, got {value!r}")
        if isinstance(value, int):
            return _in_64_bits(value)
        if isinstance(value, float) and value.is_integer():
            return _in_64_bits(int(value))
        try:
            number = int(str(value).strip())
        except ValueError:
            raise ValueError(f"expected a whole number, got {value!r}") from None
        return _in_64_bits(number)
    if kind == "number":
        if isinstance(value, bool):
            raise ValueError(f"expected a number, got {value!r}")
        if isinstance(value, int | float):
            return value
        try:
            return float(str(value).strip())
        except ValueError:
            raise ValueError(f"expected a number, got {value!r}") from None
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValueError(f"expected true or false, got {value!r}")
    if kind == "duration":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
        parse_duration(value)  # validates; the text form stays readable in templates
        return value
    if kind == "list":
        if isinstance(value, list | tuple):
            return list(value)
        text = str(value).strip()
        if text.startswith("["):
            try:
                parsed = json.loads(text)
            except json.JSONDecodeError as error:
                raise ValueError(f"not a JSON list: {error.msg}") from None
            if not isinstance(parsed, list):
                raise ValueError("expected a list")
            return parsed
        return [item.strip() for item in text.split(",") if item.strip()]
    raise ValueError(f"unknown input type {kind!r}")


def parse_params(pairs: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise InputError(f"--param {pair!r}: write --param name=value")
        params[name.strip()] = value
    return params


def resolve_inputs(
    declared: tuple[InputSpec, ...], given: Mapping[str, Any], runbook: str
) -> dict[str, Any]:
    """Every declared input with its value; every problem reported at once."""
    known = {spec.name: spec for spec in declared}
    problems = []
    for name in given:
        if name not in known:
            suggestion = did_you_mean(name, known)
            hint = (
                f"; {suggestion}"
                if suggestion
                else (f"; it takes: {', '.join(known)}" if known else "; it takes no inputs")
            )
            problems.append(f"unknown input {name!r} for {runbook}{hint}")
    values: dict[str, Any] = {}
    for spec in declared:
        if spec.name in given:
            try:
                values[spec.name] = coerce(spec, spec.name, given[spec.name])
            except ValueError as error:
                problems.append(f"input {spec.name!r} ({spec.type}): {error}")
        elif spec.has_default:
            values[spec.name] = spec.default
        else:
            problems.append(
                f"missing input {spec.name!r} ({spec.type}) for {runbook}: "
                f"add --param {spec.name}=..."
            )
    if problems:
        raise InputError("\n".join(problems))
    return values
