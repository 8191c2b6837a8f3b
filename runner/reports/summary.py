"""Short readable phrases about results, shared by every report format.

Pure Python on purpose: the nagios line and the rich text both read from here,
so a step summarised as `12 rows` in one place is never `rowcount=12` in another.
How one step type's result reads is the step type's own (`summary`, `rendered_summary`
in runner/steps/); what holds for every step is here.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

from runner.base.durations import format_duration
from runner.base.status import Status
from runner.base.wording import plural, short
from runner.language.results import RunResult, StepResult
from runner.steps import STEP_TYPES, StepType

__all__ = [
    "OUTCOME_WORDS",
    "children_summary",
    "item_key",
    "item_label",
    "item_name",
    "mode_phrase",
    "outcome_sentence",
    "plural",
    "rendered_summary",
    "run_summary",
    "seconds",
    "short",
    "status_counts",
    "step_label",
    "unstarted_summary",
    "value_summary",
    "walk",
]

#: How each outcome reads in a sentence ("timed out: query exceeded 30s").
OUTCOME_WORDS = {
    "ok": "ok",
    "failed": "failed",
    "timed_out": "timed out",
    "aborted": "aborted",
    "skipped": "skipped",
    "not_run": "not run",
}

#: Order of the counts in the summary line: worst first.
_COUNT_ORDER = (Status.CRITICAL, Status.UNKNOWN, Status.WARNING, Status.OK, Status.SKIPPED)
_MODE_PHRASES = {
    "dry-run": "DRY RUN - nothing was executed",
    "rehearse": "REHEARSAL - changes were rolled back, only GET requests were sent",
}


def mode_phrase(mode: str) -> str | None:
    """The loud banner for modes that did not really run, None for a real run."""
    return _MODE_PHRASES.get(mode)


def seconds(value: float | None) -> str:
    """A run or step duration: `0.42s` under a minute (people compare these), else `5m3s`."""
    if value is None:
        return ""
    if value < 60:
        return f"{value:.2f}s"
    return format_duration(value)


def item_label(item: Any) -> str:
    """How a for_each item is named: `42`, or `staging_id=42, order=W1001` for a row."""
    if isinstance(item, Mapping):
        return ", ".join(f"{key}={short(value, 30)}" for key, value in item.items())
    return short(item)


def item_key(item: Any) -> tuple[str | None, str]:
    """The column that names a for_each item and its value: `("qname", "queue 16")` for a
    row (its `id` or `name` column, else its first), `(None, "42")` for a plain value."""
    if isinstance(item, Mapping) and item:
        keys = [str(key) for key in item]
        named = [key for key in keys if key.lower() in ("id", "name")]
        key = (named or keys)[0]
        value = item[key] if key in item else next(iter(item.values()))
        return key, short(value, 30)
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
        return item[0], short(item[1], 30)  # an entry of a mapping walked by for_each
    return None, short(item, 40)


def item_name(item: Any) -> str:
    """A for_each item in a few words: `qname=queue 16` for a row, `42` for a value."""
    key, value = item_key(item)
    return value if key is None else f"{key}={value}"


def step_label(step: StepResult) -> str:
    """A step is named by its item inside a for_each (the engine's label), otherwise by its id."""
    if step.item is not None:
        return step.title or item_label(step.item)
    return step.id


def _step_type(step: StepResult) -> StepType | None:
    found = STEP_TYPES.get(step.action)
    return found if isinstance(found, StepType) else None


def value_summary(step: StepResult) -> str:
    """What a step returned, in a few words, for steps without evaluations: as its step
    type says it (`exit 0`, `HTTP 200 in 45 ms`, `12 rows`), else its plain values."""
    values = step.values or {}
    step_type = _step_type(step)
    said = step_type.summary(values) if step_type is not None else None
    if said is not None:
        return said
    scalars = [
        f"{key} = {short(value, 30)}"
        for key, value in values.items()
        if isinstance(value, str | int | float | bool) or value is None
    ]
    return ", ".join(scalars[:3])


def rendered_summary(step: StepResult, mode: str) -> str:
    """What a dry-run or rehearsed step would do, in a few words."""
    rendered = step.rendered or {}
    step_type = _step_type(step)
    said = step_type.rendered_summary(rendered, mode) if step_type is not None else None
    if said is not None:
        return said
    if "note" in rendered:
        return str(rendered["note"])
    return "rendered, not run"


def children_summary(step: StepResult) -> str:
    """`3 items: 1 warning, 2 ok` for a for_each; `2 steps: 2 ok` for a group."""
    if step.items_summary is not None:  # a for_each: all its items, listed or folded
        counts = Counter({Status(k): n for k, n in step.items_summary.counts.items()})
        noun = "item"
    else:
        counts = Counter(child.status for child in step.children)
        noun = "item" if any(child.item is not None for child in step.children) else "step"
    parts = [
        f"{counts[status]:,} {status.value.lower()}" for status in _COUNT_ORDER if counts[status]
    ]
    return f"{plural(sum(counts.values()), noun)}: {', '.join(parts)}"


def outcome_sentence(step: StepResult) -> str:
    """`timed out after 3 attempts: query exceeded 30s`: how a step went wrong, plainly."""
    word = OUTCOME_WORDS.get(step.outcome, step.outcome)
    tries = len(step.attempts)
    # The engine may already have said "(after 3 attempts)"; say it once.
    if (
        step.outcome in ("failed", "timed_out")
        and tries > 1
        and "attempts" not in (step.error or "")
    ):
        word += f" after {tries} attempts"
    if step.outcome == "aborted" and not step.error:
        return "aborted: the run was interrupted before this step finished"
    return f"{word}: {step.error}" if step.error else word


def walk(steps: list[StepResult], depth: int = 0) -> Iterator[tuple[int, StepResult]]:
    """Every step with its nesting depth, parents before their children."""
    for step in steps:
        yield depth, step
        yield from walk(step.children, depth + 1)


def status_counts(run: RunResult) -> str:
    """`2 critical, 1 warning, 4 ok` over the top-level steps; `not run` counted apart."""
    counts: Counter[str] = Counter()
    for step in run.steps:
        key = "not run" if step.outcome == "not_run" else step.status.value.lower()
        counts[key] += 1
    order = [status.value.lower() for status in _COUNT_ORDER] + ["not run"]
    parts = [f"{counts[key]} {key}" for key in order if counts[key]]
    return ", ".join(parts) or "no steps"


def run_summary(run: RunResult) -> str:
    """The last line of a text report, and the first thing a person reads in a log."""
    return f"{_summary_text(run)} {_where(run)}"


def _summary_text(run: RunResult) -> str:
    error = (run.error or "").strip().splitlines()
    reason = error[0] if error else ""
    status = run.status.value
    if run.outcome == "skipped":
        reason = reason or (
            f"another run of {run.runbook} was still in progress, so this one did not start"
        )
        return f"{status} - skipped: {reason}"
    if run.outcome in ("refused", "invalid"):
        return f"{status} - {run.outcome}: {reason or 'the run did not start'}"
    if run.mode == "dry-run" and run.outcome == "completed":
        rendered = plural(len(run.steps), "step")
        return f"{status} - nothing executed: {rendered} rendered in {seconds(run.duration)}"
    counts = f"{status_counts(run)} in {seconds(run.duration)}"
    if run.outcome == "aborted":
        return f"{status} - aborted: {reason or 'the run was interrupted'}; {counts}"
    return f"{status} - {counts}"


def _where(run: RunResult) -> str:
    if run.mode in _MODE_PHRASES:
        return f"({run.mode}, run {run.run_id})"
    return f"(run {run.run_id})"


def unstarted_summary(run: RunResult) -> str:
    """The one line of text a run that never started answers with (it has no run id):
    `order-health: UNKNOWN - invalid: no runbook named 'order-health' ...`."""
    mode = f" ({run.mode})" if run.mode in _MODE_PHRASES else ""
    return printable(f"{run.runbook}: {_summary_text(run)}{mode}")


# Escape sequences (CSI, OSC, and two-character ones) and the other control characters
# but newline and tab: stored text (a --trigger, an error a server sent, a hint) must not
# recolour, move the cursor or retitle the terminal of whoever reads the history.
_TERMINAL_CONTROL = re.compile(
    r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])"
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f]"
)


def printable(text: str) -> str:
    """`text` without terminal escape sequences and control characters (newlines and tabs
    stay), for text meant for a terminal."""
    return _TERMINAL_CONTROL.sub("", text)


def late_words(late: dict[str, Any]) -> str:
    """A `late` object of `runbook status` in words: which slot has no run."""
    slot = _minute(late.get("slot"))
    return f"never ran, slot {slot} missed" if late.get("never_ran") else f"slot {slot} missed"


def _minute(text: Any) -> str:
    # "2026-12-01T04:00:00.000Z" -> "2026-12-01T04:00Z"
    return f"{text[:16]}Z" if isinstance(text, str) and len(text) >= 16 else str(text)
