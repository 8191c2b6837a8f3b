"""Nagios, Icinga or Zabbix output: `NAME STATUS - summary | perfdata`, then one line per
bad step.

Follows the Nagios plugin development guidelines (nagios-plugins.org): the first line
names what is wrong first; performance data is `label=value;warn;crit` with thresholds
in Nagios range syntax and labels free of `=`, `'` and `|`; the long output after the
first line has one line per bad step, worst first; the whole output is bounded in bytes,
cutting the least important lines and performance data first, never the first line.
"""

from __future__ import annotations

from typing import Any

from runner.base.structs import Struct
from runner.language.results import Evaluation, RunResult, StepResult
from runner.reports import summary

#: Beyond this many problems the line says "... and N more": monitoring UIs cut long lines.
MAX_LISTED = 10
#: Bytes of output by default: Nagios reads the first 4 KB of a plugin's output.
MAX_OUTPUT = 4096


class _Piece(Struct, frozen=True):
    """A performance datum or a line of long output, and how much it matters."""

    text: str
    rank: int  # the status rank of what it is about: the worst are kept first
    perfdata: bool


def render_run_nagios(run: RunResult, *, max_output: int = MAX_OUTPUT, **_: Any) -> str:
    """The run for a monitoring system, at most `max_output` bytes (UTF-8)."""
    text = _status_summary(run)
    if run.mode == "rehearse":
        text = f"rehearsal, rolled back: {text}"
    line = f"{run.runbook.upper()} {run.status.value} - {_sanitize(text)}"
    return _bounded(line, [*_perfdata(run), *_details(run.steps)], max_output)


def _bounded(line: str, pieces: list[_Piece], max_output: int) -> str:
    """The first line, then as many pieces as fit in `max_output` bytes, the worst first,
    in their own order; a last line says what was left out. The first line is never
    dropped: when it alone is too long, it is cut and ends with `...`."""
    # Worst first; at one status a person's line before a graph's datum; then their order.
    ranked = sorted(range(len(pieces)), key=lambda i: (-pieces[i].rank, pieces[i].perfdata))
    size = _size(line)
    kept = -1
    first_datum = True
    for count in range(len(pieces) + 1):
        if count:
            piece = pieces[ranked[count - 1]]
            # " | " before the first datum, " " between data, a line break before a line.
            size += _size(piece.text) + (3 if piece.perfdata and first_datum else 1)
            first_datum = first_datum and not piece.perfdata
        left_out = [pieces[i] for i in ranked[count:]]
        marker = _size(_marker(left_out, max_output)) + 1 if left_out else 0
        if size + marker <= max_output:
            kept = count
    if kept < 0:
        return _cut(line, max_output)
    chosen = sorted(ranked[:kept])
    data = [pieces[i].text for i in chosen if pieces[i].perfdata]
    lines = [pieces[i].text for i in chosen if not pieces[i].perfdata]
    left_out = [pieces[i] for i in ranked[kept:]]
    if left_out:
        lines.append(_marker(left_out, max_output))
    first = f"{line} | {' '.join(data)}" if data else line
    return "\n".join([first, *lines])


def _marker(left_out: list[_Piece], max_output: int) -> str:
    data = sum(1 for piece in left_out if piece.perfdata)
    parts = []
    if len(left_out) > data:
        parts.append(summary.plural(len(left_out) - data, "line"))
    if data:
        parts.append(f"{data} performance data")
    return f"... cut to {max_output} bytes: {' and '.join(parts)} left out"


def _size(text: str) -> int:
    return len(text.encode("utf-8"))


def _cut(text: str, max_output: int) -> str:
    room = max(max_output - 3, 0)
    return text.encode("utf-8")[:room].decode("utf-8", errors="ignore") + "..."


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
        here = [*path, _step_label(step)] if path or step.children else []
        prefix = f"{' > '.join(here)}: " if here else ""
        bad = [ev for ev in step.evaluations if ev.status.is_bad]
        found.extend(prefix + ev.text for ev in bad)
        if step.bad and not bad and not _any_bad(step.children):
            label = prefix or f"{step.id}: "
            found.append(label + summary.outcome_sentence(step))
        if step.bad:  # a call its asserts judged OK: its own bad steps are not problems
            found.extend(_problems(step.children, [*path, _step_label(step)]))
    return found


def _step_label(step: StepResult) -> str:
    """A step by its id, a for_each item by its naming column: `qname=queue 16`."""
    return step.id if step.item is None else summary.item_name(step.item)


def _details(steps: list[StepResult]) -> list[_Piece]:
    """The long output: one line per bad step, `CRITICAL path: first line of its hint`,
    worst first, in step order at one status; a step without a hint says what is wrong
    with it instead. The steps are those a problem starts at, and composites with a hint
    of their own (not one the engine lifted from the child that failed)."""
    found: list[_Piece] = []
    for path, step in _walk(steps, ()):
        hint = _first_line(step.hint)
        if not step.bad or (_any_bad(step.children) and hint in ("", *_bad_hints(step))):
            continue
        said = hint or ", ".join(_own_problems(step))
        found.append(
            _Piece(
                _sanitize(f"{step.status.value} {' > '.join(path)}: {said}"),
                step.status.rank,
                False,
            )
        )
    return sorted(found, key=lambda piece: -piece.rank)


def _bad_hints(step: StepResult) -> set[str]:
    return {_first_line(child.hint) for _, child in _walk(step.children, ()) if child.bad}


def _walk(
    steps: list[StepResult], path: tuple[str, ...]
) -> list[tuple[tuple[str, ...], StepResult]]:
    found = []
    for step in steps:
        here = (*path, _step_label(step))
        found.append((here, step))
        if step.bad:  # as in _problems: what an OK step holds is not a problem
            found.extend(_walk(step.children, here))
    return found


def _own_problems(step: StepResult) -> list[str]:
    bad = [ev.text for ev in step.evaluations if ev.status.is_bad]
    return bad or [summary.outcome_sentence(step)]


def _first_line(text: str | None) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[0] if lines else ""


def _any_bad(steps: list[StepResult]) -> bool:
    return any(step.bad or _any_bad(step.children) for step in steps)


def _count_checks(steps: list[StepResult]) -> int:
    """Each evaluation is a check; a step without evaluations that ran counts as one."""
    total = 0
    for step in steps:
        if step.items_summary is not None:  # a for_each: its kept items and folded ones
            total += _count_checks(step.children) + _folded_checks(step)
            continue
        if step.evaluations:
            total += len(step.evaluations)
        elif not step.children and step.outcome not in ("skipped", "not_run"):
            total += 1
        total += _count_checks(step.children)
    return total


def _folded_checks(step: StepResult) -> int:
    """The threshold values of the OK items a for_each folded (engine/items.py), one per
    item when they had none to count. A loop that folds keeps no OK item, so every value
    in `ok_values` is a folded item's."""
    summary = step.items_summary
    if summary is None or not summary.folded:
        return 0
    counted = sum(int(values["count"]) for values in summary.ok_values.values())
    return counted or summary.folded


def _perfdata(run: RunResult) -> list[_Piece]:
    measured = [
        (_label(evaluation.name), _label(f"{where}.{evaluation.name}"), evaluation)
        for where, step in _qualified(run.steps, "")
        for evaluation in step.evaluations
        if evaluation.kind == "threshold" and _number(evaluation.value) is not None
    ]
    names = [name for name, _, _ in measured]
    seen: set[str] = set()
    out: list[_Piece] = []
    for name, qualified, evaluation in measured:
        # Nagios needs unique labels: keep the plain threshold name unless two steps share it.
        label = name if names.count(name) == 1 else qualified
        if label in seen:
            continue
        seen.add(label)
        out.append(_Piece(_perfdatum(label, evaluation), evaluation.status.rank, True))
    return out


def _qualified(steps: list[StepResult], prefix: str) -> list[tuple[str, StepResult]]:
    """Each step with a unique dotted name: `fix[42].restore` for a step inside an item,
    `queues[queue 16].depth` for an item that is a row (its naming column's value)."""
    found: list[tuple[str, StepResult]] = []
    for step in steps:
        if step.item is not None and prefix:
            where = f"{prefix}[{summary.item_key(step.item)[1]}]"
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
    return f"{label}={';'.join(fields).rstrip(';')}"


def _label(label: str) -> str:
    """A perfdata label: `=`, `'` and `|` become `_` (the guidelines allow neither `=` nor
    `'` in a label, and `|` starts performance data), white space one space; quoted when
    it holds a space."""
    text = " ".join(label.split())
    for char in "='|":
        text = text.replace(char, "_")
    text = text or "_"
    return f"'{text}'" if " " in text else text


def _range(threshold: Any, below: bool) -> str:
    """The Nagios range of values that do not alert: `~:10` (alert above 10, at any value
    below, negative ones included) for direction above, `10:` (alert below 10) for below."""
    number = _number(threshold)
    if number is None:
        return ""
    return f"{number}:" if below else f"~:{number}"


def _number(value: Any) -> str | None:
    """A plain decimal number as perfdata allows it (no exponent), or None if not a number."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return str(value)
    from decimal import Decimal  # here: most values are ints (start-up, issue 11)

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


def render_status_nagios(rows: list[dict[str, Any]], *, max_output: int = MAX_OUTPUT) -> str:
    """`runbook status --format nagios`: one check over every runbook, a meta-check.
    CRITICAL when any scheduled runbook is late (its slot has no run), else the worst
    last status; the late runbooks are named first, then those whose last run was not
    OK. The exit code is the status's (`runbook status` chooses it)."""
    from runner.base.status import Status, worst

    late = [row for row in rows if row.get("late")]
    bad = [row for row in rows if row.get("status") not in (None, "OK")]
    statuses = [Status(row["status"]) for row in rows if row.get("status")]
    status = worst(statuses + [Status.CRITICAL] * bool(late))
    said = []
    if late:
        names = ", ".join(
            f"{row['runbook']} ({summary.late_words(row['late'])})" for row in late[:MAX_LISTED]
        )
        more = f" and {len(late) - MAX_LISTED} more" if len(late) > MAX_LISTED else ""
        said.append(f"{len(late)} late: {names}{more}")
    if bad:
        names = ", ".join(f"{row['runbook']} {row['status']}" for row in bad[:MAX_LISTED])
        more = f" and {len(bad) - MAX_LISTED} more" if len(bad) > MAX_LISTED else ""
        said.append(f"{len(bad)} not OK: {names}{more}")
    if not said:
        scheduled = sum(1 for row in rows if row.get("schedule"))
        said.append(
            f"{summary.plural(len(rows), 'runbook')} OK or never run, "
            f"{scheduled} scheduled, none late"
        )
    line = f"RUNBOOK STATUS {status.value} - {_sanitize('; '.join(said))}"
    pieces = [
        _Piece(f"late={len(late)};;0;0", Status.CRITICAL.rank, True),
        _Piece(f"not_ok={len(bad)};;;0", Status.WARNING.rank, True),
        _Piece(f"runbooks={len(rows)};;;0", Status.OK.rank, True),
    ]
    for row in late:
        words = _sanitize(f"LATE {row['runbook']}: {summary.late_words(row['late'])}")
        pieces.append(_Piece(words, Status.CRITICAL.rank, False))
    for row in bad:
        words = _sanitize(f"{row['status']} {row['runbook']}: last run {row.get('run_id')}")
        pieces.append(_Piece(words, Status(row["status"]).rank, False))
    return _bounded(line, pieces, max_output)
