"""Thresholds and assertions applied to a step's result, each read as a sentence.

`pending_count = 37 > warning 10`, `oldest_minutes = 12 <= warning 60`,
`status == 200 failed (status = 503)`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from runner.base.decimals import is_decimal
from runner.base.errors import TemplateError
from runner.base.status import Status
from runner.base.wording import number_text
from runner.language import templates
from runner.language.model import Assertion, Step, Threshold
from runner.language.results import Evaluation

_NAME = re.compile(r"\b[A-Za-z_][A-Za-z0-9_]*\b")


def _number(value: Any) -> float | int | None:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return value
    if is_decimal(value):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
        return int(number) if number.is_integer() else number
    return None


def _fmt(value: Any) -> str:
    return number_text(value) if isinstance(value, float) else str(value)


def _lookup(name: str, values: Mapping[str, Any]) -> tuple[bool, Any]:
    row = values.get("row")
    if isinstance(row, Mapping):
        if name in row:
            return True, row[name]
        lowered = name.lower()
        for key, value in row.items():
            if str(key).lower() == lowered:
                return True, value
    if name in values:
        return True, values[name]
    return False, None


def _limit(raw: Any, scope: Mapping[str, Any], where: str) -> float | int | None:
    if raw is None:
        return None
    value = templates.render_value(raw, scope, where) if isinstance(raw, str) else raw
    number = _number(value)
    if number is None:
        raise TemplateError(
            f"{where}: threshold {raw!r} is not a number (it rendered to {value!r})"
        )
    return number


def threshold(spec: Threshold, values: Mapping[str, Any], scope: Mapping[str, Any]) -> Evaluation:
    where = str(spec.origin) if spec.origin else spec.name
    try:
        if spec.value:
            raw = templates.evaluate(spec.value, scope, where)
            found = True
        else:
            found, raw = _lookup(spec.name, values)
        warning = _limit(spec.warning, scope, where)
        critical = _limit(spec.critical, scope, where)
    except TemplateError as error:
        return Evaluation(spec.name, Status.UNKNOWN, str(error), kind="threshold")
    base: dict[str, Any] = dict(
        name=spec.name, warning=warning, critical=critical, direction=spec.direction
    )
    if not found:
        columns = ", ".join(map(str, (values.get("row") or {}).keys())) or "none"
        return Evaluation(
            **base,
            status=Status.UNKNOWN,
            text=f"{spec.name}: no such column or value (columns: {columns})",
        )
    value = _number(raw)
    if value is None:
        shown = "NULL" if raw is None else repr(raw)
        return Evaluation(
            **base, value=raw, status=Status.UNKNOWN, text=f"{spec.name} = {shown}: not a number"
        )
    above = spec.direction == "above"

    def breached(limit: float | int | None) -> bool:
        return limit is not None and (value > limit if above else value < limit)

    bad, good = (">", "<=") if above else ("<", ">=")
    if breached(critical):
        status, text = (
            Status.CRITICAL,
            f"{spec.name} = {_fmt(value)} {bad} critical {_fmt(critical)}",
        )
    elif breached(warning):
        status, text = Status.WARNING, f"{spec.name} = {_fmt(value)} {bad} warning {_fmt(warning)}"
    else:
        limit, label = (warning, "warning") if warning is not None else (critical, "critical")
        status, text = Status.OK, f"{spec.name} = {_fmt(value)} {good} {label} {_fmt(limit)}"
    return Evaluation(**base, value=value, status=status, text=text)


def assertion(spec: Assertion, values: Mapping[str, Any], scope: Mapping[str, Any]) -> Evaluation:
    where = str(spec.origin) if spec.origin else spec.that
    try:
        passed = bool(templates.evaluate(spec.that, scope, where))
    except TemplateError as error:
        return Evaluation(spec.that, Status.UNKNOWN, str(error), kind="assert")
    if passed:
        return Evaluation(spec.that, Status.OK, spec.that, True, kind="assert")
    shown = []
    for name in dict.fromkeys(_NAME.findall(spec.that)):
        if name in values and not isinstance(values[name], dict | list):
            shown.append(f"{name} = {_fmt(values[name])}")
    detail = f" ({', '.join(shown)})" if shown else ""
    text = spec.message or f"{spec.that} failed{detail}"
    if spec.message and templates.is_template(spec.message):
        # `message: "order {{ order.staging_id }} rejected: {{ value }}"`: the loop item and
        # the step's own result are in scope, as in `that`.
        try:
            text = templates.render(spec.message, scope, where)
        except TemplateError as error:
            return Evaluation(spec.that, Status.UNKNOWN, str(error), kind="assert")
    return Evaluation(spec.that, spec.severity, text, False, kind="assert")


def evaluate_step(
    step: Step,
    values: Mapping[str, Any],
    scope: Mapping[str, Any],
    thresholds: tuple[Threshold, ...] | None = None,
) -> list[Evaluation]:
    """Every threshold and assertion of `step`; the step's own result is in scope by name.

    When a critical assert fails (`status == 200` of an HTTP answer that is a 500), the
    thresholds that find no value in that answer are left out: the assert says what is
    wrong, and "no key 'metrics' here" beside it for each threshold would only bury it.
    A threshold that found its value is judged as always."""
    specs = step.thresholds if thresholds is None else thresholds
    if not specs and not step.asserts:
        return []  # most steps: no copy of the scope to build
    row = values.get("row")
    columns = row if isinstance(row, Mapping) else {}
    local = {**scope, **columns, **values, "result": values}
    judged = [threshold(spec, values, local) for spec in specs]
    asserted = [assertion(spec, values, local) for spec in step.asserts]
    if any(e.status is Status.CRITICAL for e in asserted):
        judged = [e for e in judged if not (e.status is Status.UNKNOWN and e.value is None)]
    return judged + asserted
