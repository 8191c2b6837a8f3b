"""The wording of alert messages: a title and a markdown body that say what is wrong.

`build_message` turns one decided alert into a Message: the title names the runbook,
the change and the host; the body lists each failing step with its values against
their thresholds, its hint and `runbook history --run ID`. A runbook's `title:` and
`body:` templates may replace them; a broken template falls back to the default and
says why in the body. Secrets are masked last, whatever produced the text.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC
from typing import TYPE_CHECKING, Any

from runner.alerts.decide import Alert
from runner.base.durations import format_duration
from runner.base.status import Status
from runner.language import templates
from runner.language.policy import Policy
from runner.language.results import RunResult, StepResult
from runner.notifiers.deliver import Message
from runner.reports.summary import outcome_sentence, run_summary, status_counts, step_label

if TYPE_CHECKING:
    from runner.base.masking import Masker

#: Bad results listed per step in a message before "... and N more".
MAX_LINES_PER_STEP = 10
#: Levels Apprise colours and sorts by, per message kind and status.
_LEVELS = {Status.CRITICAL: "failure", Status.UNKNOWN: "failure", Status.WARNING: "warning"}


def needed_retries(steps: list[StepResult]) -> list[StepResult]:
    """Steps that ended fine only after more than one attempt, nested ones included."""
    found = []
    for step in steps:
        if len(step.attempts) > 1 and not step.bad:
            found.append(step)
        found.extend(needed_retries(step.children))
    return found


# -- messages ----------------------------------------------------------------------------------


def history_command(run_id: str) -> str:
    return f"runbook history --run {run_id}"


def build_message(
    alert: Alert,
    run: RunResult,
    policy: Policy,
    masker: Masker | None = None,
    alerting: frozenset[str] = frozenset(),
) -> Message:
    """The title and markdown body of one alert; `title:`/`body:` templates may replace them.

    `alerting`: ids of the steps that route their own alerts (not listed for the runbook).
    """
    failing = _failing(run, alert.subject, alerting)
    for step in failing:
        step["new"] = step["id"] in alert.added
    title = _default_title(alert, run, failing)
    body = _default_body(alert, run, failing)
    if policy.title or policy.body:
        scope = _template_scope(alert, run, failing, title, body)
        title, body = _render(policy, scope, title, body, run.path or run.runbook)
    if masker is not None:
        title, body = masker.mask_text(title), masker.mask_text(body)
    level = "ok" if alert.kind == "recovered" else _LEVELS.get(alert.status, "info")
    return Message(alert.kind, alert.subject, alert.status, alert.tags, title, body, level)


def _render(
    policy: Policy, scope: dict[str, Any], title: str, body: str, where: str
) -> tuple[str, str]:
    """Templates replace the defaults; a broken template falls back and says why."""
    from runner.base.errors import TemplateError

    notes = []
    rendered = {"title": title, "body": body}
    for key in ("title", "body"):
        template = getattr(policy, key)
        if not template:
            continue
        try:
            rendered[key] = str(templates.render_value(template, scope, f"{where}: notify.{key}"))
        except TemplateError as error:
            notes.append(f"(the notify {key} template failed, so the default is used: {error})")
    if notes:
        rendered["body"] = rendered["body"] + "\n\n" + "\n".join(notes)
    return rendered["title"], rendered["body"]


def _failing(run: RunResult, subject: str, alerting: frozenset[str]) -> list[dict[str, Any]]:
    """The bad top-level steps of a subject, each with what is wrong in lines.

    The runbook's subject leaves out the steps in `alerting` (they route their own).
    """
    if subject:
        steps = [step for step in run.steps if step.id == subject]
    else:
        steps = [step for step in run.steps if step.id not in alerting]
    out = []
    for step in steps:
        if not step.bad:
            continue
        lines = list(_bad_lines(step, []))
        extra = len(lines) - MAX_LINES_PER_STEP
        if extra > 0:
            lines = lines[:MAX_LINES_PER_STEP] + [f"... and {extra} more"]
        hint = step.hint or next(
            (child.hint for child in _descendants(step.children) if child.bad and child.hint), None
        )
        out.append(
            {
                "id": step.id,
                "title": step.title if step.title and step.title != step.id else "",
                "status": step.status.value,
                "outcome": step.outcome,
                "lines": lines,
                "hint": (hint or "").strip(),
            }
        )
    return out


def _descendants(steps: list[StepResult]) -> Iterator[StepResult]:
    for step in steps:
        yield step
        yield from _descendants(step.children)


def _bad_lines(step: StepResult, path: list[str]) -> Iterator[str]:
    """What is wrong with a step: breached evaluations, how it failed, then its bad children."""
    prefix = f"{' > '.join(path)}: " if path else ""
    for evaluation in step.evaluations:
        if evaluation.status.is_bad:
            yield f"{prefix}{evaluation.text}"
    if step.outcome in ("failed", "timed_out", "aborted", "refused") and (
        step.error or not step.children
    ):
        yield f"{prefix}{outcome_sentence(step)}"
    for child in step.children:
        if child.bad:
            yield from _bad_lines(child, [*path, step_label(child)])


def _noun(run: RunResult, count: int, more: bool = False) -> str:
    word = "check" if run.kind in ("health-check", "troubleshooting", "check") else "step"
    counted = f"{count} more" if more else str(count)
    return f"{counted} {word}" if count == 1 else f"{counted} {word}s"


def _for(seconds: float | None) -> str:
    return format_duration(seconds) if seconds else "a moment"


def _default_title(alert: Alert, run: RunResult, failing: list[dict[str, Any]]) -> str:
    name = run.runbook + (f"/{alert.subject}" if alert.subject else "")
    host = run.host or "this host"
    if alert.kind == "recovered":
        was = f"was {alert.previous} for {_for(alert.bad_for)}"
        return f"[RECOVERED] {name}: OK again on {host} ({was})"
    if alert.kind == "retried":
        return f"[RETRIED] {name}: OK on {host}, after retries"
    if alert.subject:
        what = "failing" if alert.status is not Status.UNKNOWN else "cannot be evaluated"
    elif failing:
        what = f"{_noun(run, len(failing))} failing"
    else:
        what = "cannot be evaluated" if alert.status is Status.UNKNOWN else "failing"
    title = f"[{alert.status.value}] {name}: {what} on {host}"
    if alert.kind == "spread":
        more = f"{_noun(run, len(alert.added), more=True)} failing ({', '.join(alert.added)})"
        title = f"[{alert.status.value}] {name}: {more} on {host}"
    elif alert.kind in ("worse", "better"):
        title += f" (was {alert.previous})"
    elif alert.kind == "repeat":
        title = f"[{alert.status.value}] {name}: still {what} on {host} (for {_for(alert.bad_for)})"
    elif alert.kind == "escalation":
        title = f"[ESCALATED] {title} for {_for(alert.bad_for)}"
    return title


def _default_body(alert: Alert, run: RunResult, failing: list[dict[str, Any]]) -> str:
    name = f"**{run.runbook}**" + (f" ({run.title})" if run.title else "")
    host = run.host or "this host"
    since = (
        f" since {alert.bad_since.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if alert.bad_since else ""
    )
    paragraphs: list[str] = []
    if alert.kind == "recovered":
        paragraphs.append(
            f"{name} is **OK** again on {host}. It was {alert.previous} for "
            f"{_for(alert.bad_for)}{since}."
        )
    elif alert.kind == "retried":
        paragraphs.append(f"{name} ended **OK** on {host}, but only after retries:")
        paragraphs.append(
            "\n".join(
                f"- **{step.id}**: OK after {len(step.attempts)} attempts"
                + (f" (first: {step.attempts[0].error})" if step.attempts[0].error else "")
                for step in needed_retries(run.steps)
            )
        )
    else:
        subject = f" step **{alert.subject}**" if alert.subject else ""
        lead = {
            "new": f"{name}{subject} is **{alert.status.value}** on {host}{since}.",
            "worse": f"{name}{subject} got worse on {host}: **{alert.status.value}**, "
            f"was {alert.previous}.",
            "better": f"{name}{subject} eased on {host}: **{alert.status.value}**, "
            f"was {alert.previous}.",
            "spread": f"{name}{subject} is still **{alert.status.value}** on {host}{since}, "
            f"and now {_noun(run, len(alert.added), more=True)} "
            f"{'is' if len(alert.added) == 1 else 'are'} failing: "
            f"{', '.join(f'**{step}**' for step in alert.added)}.",
            "repeat": f"{name}{subject} is still **{alert.status.value}** on {host}{since} "
            f"({_for(alert.bad_for)}).",
            "escalation": f"{name}{subject} has been **CRITICAL** on {host} for "
            f"{_for(alert.bad_for)}{since}, and nobody has fixed it yet.",
        }[alert.kind]
        paragraphs.append(lead)
        for step in failing:
            heading = f"**{step['id']}**" + (f" ({step['title']})" if step["title"] else "")
            # A step people had not been told about is marked, so it stands out.
            lines = [f"{heading}: {step['status']}" + (", newly failing" if step["new"] else "")]
            lines += [f"- {line}" for line in step["lines"]]
            paragraphs.append("\n".join(lines))
            if step["hint"]:
                paragraphs.append(f"Hint:\n\n```\n{step['hint']}\n```")
        if run.error and not failing:
            paragraphs.append(run.error)
    took = format_duration(run.duration) if run.duration else "0s"
    paragraphs.append(
        f"Run {run.run_id} ({run.trigger}): {status_counts(run)} in {took}.  \n"
        f"Show it: `{history_command(run.run_id)}`"
    )
    return "\n\n".join(paragraphs)


def _template_scope(
    alert: Alert, run: RunResult, failing: list[dict[str, Any]], title: str, body: str
) -> dict[str, Any]:
    return {
        "run": {
            "id": run.run_id,
            "runbook": run.runbook,
            "title": run.title,
            "kind": run.kind,
            "status": run.status.value,
            "host": run.host,
            "user": run.user,
            "trigger": run.trigger,
            "started": run.started,
            "ended": run.ended,
            "duration": run.duration,
            "summary": run_summary(run),
            "command": history_command(run.run_id),
            "error": run.error,
        },
        "alert": {
            "kind": alert.kind,
            "status": alert.status.value,
            "previous": alert.previous,
            "tags": list(alert.tags),
            "subject": alert.subject,
            "added": list(alert.added),
            "bad_since": alert.bad_since,
            "bad_for": _for(alert.bad_for) if alert.bad_for is not None else None,
        },
        "failing": failing,
        "default_title": title,
        "default_body": body,
    }
