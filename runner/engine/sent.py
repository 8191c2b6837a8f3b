"""What a step sent, as its result keeps it (`StepResult.statement`): a SQL step's
statement with its placeholders and bound values, as the dry run renders it
(`StepType.statement`), masked and cut to a size the state store keeps for every step
it keeps in full.

A bound value is masked whole when any secret of the run shows in its text, whatever
its type: a secret input of type integer is bound as a number, which text masking alone
would leave as it is."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, time, timedelta
from typing import Any

from runner.base.decimals import is_decimal
from runner.base.errors import RunbookError
from runner.base.masking import MASK, Masker
from runner.language.model import Step
from runner.language.results import StepResult
from runner.steps.base import StepType
from runner.steps.context import StepContext

#: Bound values kept of one statement (an `in_list` of 5,000 ids is counted, not kept).
MAX_PARAMS = 50
#: Characters kept of one bound text value, and of the statement's text.
MAX_PARAM_TEXT = 200
MAX_SQL_TEXT = 10_000


def record_statement(
    runner: StepType,
    step: Step,
    ctx: StepContext,
    result: StepResult,
    masker: Masker,
) -> None:
    """Keep in `result` what the step sent, masked and cut; nothing for a step type that
    keeps none, or a statement that cannot be rendered again (its error is the step's).
    A rehearsed step's rendering (`result.rendered`) is reused, never made twice."""
    rendered = result.rendered
    try:
        shown = rendered if rendered and "sql" in rendered else runner.statement(step, ctx)
    except RunbookError:  # a template that failed: the step's own error says so
        return
    if shown is not None:
        result.statement = kept_statement(shown, masker)


def kept_statement(shown: Mapping[str, Any], masker: Masker) -> dict[str, Any]:
    """`shown` (connection, sql, params, file) masked and cut: at most MAX_PARAMS values
    (`params_total` says how many there were), texts cut."""
    params = list(shown.get("params") or [])
    kept: dict[str, Any] = {
        "connection": shown.get("connection"),
        "sql": _cut(masker.mask_text(str(shown.get("sql") or "")), MAX_SQL_TEXT),
        "params": [_param(value, masker) for value in params[:MAX_PARAMS]],
        "file": shown.get("file"),
    }
    if len(params) > MAX_PARAMS:
        kept["params_total"] = len(params)
    return kept


def _param(value: Any, masker: Masker) -> Any:
    if value is None or isinstance(value, bool):
        return value
    text = value if isinstance(value, str) else str(value)
    masked = masker.mask_text(text)
    if masked != text:
        return MASK if not isinstance(value, str) else _cut(masked, MAX_PARAM_TEXT)
    if isinstance(value, str):
        return _cut(value, MAX_PARAM_TEXT)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _cut(bytes(value).hex(), MAX_PARAM_TEXT)
    if isinstance(value, (int, float, date, time, timedelta)) or is_decimal(value):
        return value  # the store makes it JSON (history/records.py)
    # what no driver binds (a method a template named by mistake): its type, not its
    # repr, which holds an address that differs from run to run
    return f"<{type(value).__name__}>"


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters)"
