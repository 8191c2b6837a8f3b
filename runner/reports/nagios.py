"""One line for Nagios, Icinga or Zabbix: `NAME STATUS - summary | perfdata`.

Follows the Nagios plugin guidelines: the summary names what is wrong first, and
performance data is `'label'=value;warn;crit` with thresholds in Nagios range syntax.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from runner.language.results import Evaluation, RunResult, StepResult
from runner.reports import summary

#: Beyond this many problems the line says "... and N more": monitoring UIs cut long lines.
MAX_LISTED = 10


def render_run_nagios(run: RunResult, **_: Any) -> str:
    text = _status_summary(run)
    if run.mode == "rehearse":
        text = f"rehearsal, rolled back: {text}"
    line = f"{run.runbook.upper()} {run.status.value} - {_sanitize(text)}"
    perfdata = " ".join(_perfdata(run))
    return f"{line} | {perfdata}" if perfdata else line


def _status_summary(run: RunResult) -> str:
    reason = (run.error or "").strip().splitlines()
    if run.outcome == "skipped":
        return "skipped: " + (
            reason[0] if reason else f"another run of {run.runbook} is in progress"
        )
    if run.outcome in ("refused", "invalid"):
        return f"{run.outcome}: " + (reason[0] if reason else "the run did not start")
    problems = _problems(run.steps, [])
    if run.outcome == "aborted":
        problems.insert(0, "aborted: " + (reason[0] if reason else "the run was interrupted"))
    elif reason and run.status.is_bad and not problems:
        problems.append(reason[0])
    if problems:
        extra = len(problems) - MAX_LISTED
        listed = problems[:MAX_LISTED] + ([f"... and {extra} more"] if extra > 0 else [])
        return ", ".join(listed)
    if run.mode == "dry-run":
        return f"dry run, nothing executed: {summary.plural(len(run.steps), 'step')} rendered"
    return f"all {summary.plural(_count_checks(run.steps), 'check')} OK"


def _problems(steps: list[StepResult], path: list[str]) -> list[str]:
    """What is bad, in step order: the breached evaluations, or how the step failed."""
    found: list[str] = []
    for step in steps:
        # Top-level evaluations read as they are (`pending_count = 37 > warning 10`);
        # nested ones carry their step or item so the reader knows which order failed.
        here = [*path, summary.step_label(step)] if path or step.children else []
        prefix = f"{' > '.join(here)}: " if here else ""
        bad = [ev for ev in step.evaluations if ev.status.is_bad]
        found.extend(prefix + ev.text for ev in bad)
        if step.bad and not bad and not _any_bad(step.children):
            label = prefix or f"{step.id}: "
            found.append(label + summary.outcome_sentence(step))
        found.extend(_problems(step.children, [*path, summary.step_label(step)]))
    return found


def _any_bad(steps: list[StepResult]) -> bool:
    return any(step.bad or _any_bad(step.children) for step in steps)


def _count_checks(steps: list[StepResult]) -> int:
    """Each evaluation is a check; a step without evaluations that ran counts as one."""
    total = 0
    for step in steps:
        if step.evaluations:
            total += len(step.evaluations)
        elif not step.children and step.outcome not in ("skipped", "not_run"):
            total += 1
        total += _count_checks(step.children)
    return total


def _perfdata(run: RunResult) -> list[str]:
    measured = [
        (evaluation.name, f"{where}.{evaluation.name}", evaluation)
        for where, step in _qualified(run.steps, "")
        for evaluation in step.evaluations
        if evaluation.kind == "threshold" and _number(evaluation.value) is not None
    ]
    names = [name for name, _, _ in measured]
    seen: set[str] = set()
    out: list[str] = []
    for name, qualified, evaluation in measured:
        # Nagios needs unique labels: keep the plain threshold name unless two steps share it.
        label = name if names.count(name) == 1 else qualified
        if label in seen:
            continue
        seen.add(label)
        out.append(_perfdatum(label, evaluation))
    return out


def _qualified(steps: list[StepResult], prefix: str) -> list[tuple[str, StepResult]]:
    """Each step with a unique dotted name: `fix[42].restore` for a step inside an item."""
    found: list[tuple[str, StepResult]] = []
    for step in steps:
        if step.item is not None and prefix:
            where = f"{prefix}[{summary.item_label(step.item)}]"
        else:
            where = f"{prefix}.{step.id}" if prefix else step.id
        found.append((where, step))
        found.extend(_qualified(step.children, where))
    return found


def _perfdatum(label: str, evaluation: Evaluation) -> str:
    below = evaluation.direction == "below"
    fields = [
        str(_number(evaluation.value)),
        _range(evaluation.warning, below),
        _range(evaluation.critical, below),
    ]
    return f"{_label(label)}={';'.join(fields).rstrip(';')}"


def _label(label: str) -> str:
    # `=` separates label and value, a single quote is escaped by doubling it.
    text = label.replace("=", "_").replace("'", "''")
    return f"'{text}'" if any(ch.isspace() for ch in text) or "''" in text else text


def _range(threshold: Any, below: bool) -> str:
    """Nagios range for a threshold: `10` alerts above 10, `10:` alerts below 10."""
    number = _number(threshold)
    if number is None:
        return ""
    return f"{number}:" if below else number


def _number(value: Any) -> str | None:
    """A plain decimal number as perfdata allows it (no exponent), or None if not a number."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        try:
            value = Decimal(value.strip())
        except ArithmeticError:
            return None
    try:
        number = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
    except (ArithmeticError, TypeError, ValueError):
        return None
    if not number.is_finite():
        return None
    text = format(number, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _sanitize(text: str) -> str:
    # `|` starts performance data and the first line must stay one line.
    return " ".join(text.replace("|", "/").split())
