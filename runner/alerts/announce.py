"""Announce a recorded run: decide who hears what, send it, and record every delivery.

The run is in the state store before anything here happens, and nothing here raises:
a notifier that fails, hangs or is misconfigured at send time costs a recorded
delivery failure, never the run or its exit code.

Subjects: the runbook as a whole, routed by its `notify:` policy (runner.yaml's
`notifications.policy`, overridden key by key), and each top-level step with its own
`alert:` policy (the runbook's, overridden key by key). A step that routes its own
alerts is left out of the runbook's status, so one problem is announced once.
The runbook's alert state also keeps which of its steps people were told are failing,
so a step that starts failing inside an open incident is announced (kind `spread`).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from runner.alerts.decide import Alert, AlertState, decide
from runner.base.clock import utc_text
from runner.base.durations import format_duration
from runner.base.errors import RunbookError
from runner.base.status import Status, worst
from runner.language import templates
from runner.language.policy import Policy
from runner.language.results import RunResult, StepResult
from runner.notifiers.deliver import Message, deliver
from runner.reports.summary import outcome_sentence, run_summary, status_counts, step_label

if TYPE_CHECKING:
    from runner.base.masking import Masker
    from runner.history.store import StateStore
    from runner.language.config import Config
    from runner.language.model import Runbook
    from runner.notifiers.services import Notifier

#: Bad results listed per step in a message before "... and N more".
MAX_LINES_PER_STEP = 10
#: Levels Apprise colours and sorts by, per message kind and status.
_LEVELS = {Status.CRITICAL: "failure", Status.UNKNOWN: "failure", Status.WARNING: "warning"}
_RETRY_AGAIN = ("new", "worse", "better", "spread", "repeat")


# -- policies and subjects ------------------------------------------------------------------


def runbook_policy(runbook: Runbook, config: Config) -> Policy:
    """runner.yaml's default policy with the runbook's `notify:` keys over it."""
    from runner.notifiers.services import settings

    return Policy.from_raw(runbook.notify, settings(config).policy)


def subjects(runbook: Runbook, run: RunResult, config: Config) -> dict[str, tuple[Policy, Status]]:
    """{subject: (policy, status now)}: '' for the runbook, a step id for each `alert:` step."""
    base = runbook_policy(runbook, config)
    own = {step.id: Policy.from_raw(step.alert, base) for step in runbook.steps if step.alert}
    rest = [step for step in run.steps if step.id not in own]
    status = worst(step.status for step in rest)
    if run.status is Status.UNKNOWN and not own:
        status = Status.UNKNOWN  # the run as a whole could not be evaluated
    found = {"": (base, status)}
    for step in run.steps:
        if step.id in own:
            found[step.id] = (own[step.id], step.status)
    return found


def routes_anything(runbook: Runbook, config: Config) -> bool:
    """True when the runbook (or one of its steps) would tell anyone about anything."""
    base = runbook_policy(runbook, config)
    return base.routes_anything or any(
        Policy.from_raw(step.alert, base).routes_anything for step in runbook.steps if step.alert
    )


def failing_steps(run: RunResult, alerting: frozenset[str] = frozenset()) -> tuple[str, ...]:
    """Ids of the runbook's bad top-level steps, leaving out those that route their own."""
    return tuple(step.id for step in run.steps if step.bad and step.id not in alerting)


def needed_retries(steps: list[StepResult]) -> list[StepResult]:
    """Steps that ended fine only after more than one attempt, nested ones included."""
    found = []
    for step in steps:
        if len(step.attempts) > 1 and not step.bad:
            found.append(step)
        found.extend(needed_retries(step.children))
    return found


# -- the whole announcement ------------------------------------------------------------------


def announce(
    run: RunResult,
    runbook: Runbook,
    config: Config,
    state: StateStore,
    notifier: Notifier | None,
    *,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Decide (atomically, in the state store), send and record; returns the deliveries.

    Only real runs that ran to their end are announced: dry runs, rehearsals, and runs
    that were skipped, refused or aborted change no alert state.
    """
    if notifier is None or run.mode != "run" or run.outcome != "completed":
        return []
    now = now or datetime.now(UTC)
    wanted = subjects(runbook, run, config)
    if not any(policy.routes_anything for policy, _ in wanted.values()):
        return []
    retried = run.status is Status.OK and bool(needed_retries(run.steps))
    alerting = frozenset(subject for subject in wanted if subject)
    failing = failing_steps(run, alerting)
    told_before: dict[str, tuple[str, ...] | None] = {}

    def change(rows: dict[str, dict[str, Any]]) -> tuple[dict[str, dict[str, Any]], list[Alert]]:
        updated: dict[str, dict[str, Any]] = {}
        alerts: list[Alert] = []
        for subject, (policy, status) in wanted.items():
            previous = _state_from_row(rows.get(subject))
            after, found = decide(
                previous,
                status,
                policy,
                now,
                run_id=run.run_id,
                retried=retried and subject == "",
                subject=subject,
                failing=() if subject else failing,
            )
            if after != previous:
                updated[subject] = _row_from_state(after)
            alerts.extend(found)
            told_before[subject] = previous.failing if previous else ()
        return updated, alerts

    try:
        alerts = state.update_alerts(runbook.name, change)
    except RunbookError as error:  # the store is busy or broken: say so, keep the run
        return [_failed_delivery(run, "claim", f"alert state not updated: {error}", now)]
    deliveries: list[dict[str, Any]] = []
    for alert in alerts:
        policy = wanted[alert.subject][0]
        try:
            message = build_message(alert, run, policy, notifier.masker, alerting)
            sent = deliver(message, notifier, run_id=run.run_id, runbook=run.runbook, now=now)
        except Exception as error:  # noqa: BLE001 - announcing must never lose the run
            text = notifier.masker.mask_text(f"{type(error).__name__}: {error}")
            sent = [_failed_delivery(run, alert.kind, f"not sent: {text}", now)]
        deliveries.extend(sent)
        if sent and not any(item["ok"] for item in sent):
            # Nobody heard it: the next run says it again instead of staying silent
            # (a spread as a spread: nobody was told those steps, so they are news still).
            state.send_again(
                runbook.name,
                alert.subject,
                run.run_id,
                message=alert.kind in _RETRY_AGAIN,
                escalation=alert.kind == "escalation",
                failing=(told_before.get(alert.subject) or ()) if alert.kind == "spread" else None,
            )
    state.record_deliveries(deliveries)
    return deliveries


def _failed_delivery(run: RunResult, kind: str, error: str, at: datetime) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "runbook": run.runbook,
        "subject": "",
        "kind": kind,
        "status": run.status.value,
        "tags": [],
        "url": "",
        "ok": False,
        "error": error,
        "attempts": 0,
        "title": "",
        "at": utc_text(at),
        "duration": 0.0,
    }


# -- alert state <-> rows ----------------------------------------------------------------------


def _time(text: Any) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(str(text).replace("Z", "+00:00"))


def _state_from_row(row: dict[str, Any] | None) -> AlertState | None:
    if row is None:
        return None
    return AlertState(
        status=row.get("status") or "OK",
        announced=row.get("announced"),
        bad_since=_time(row.get("bad_since")),
        critical_since=_time(row.get("critical_since")),
        opened=_time(row.get("opened")),
        last_sent=_time(row.get("last_sent")),
        escalated=bool(row.get("escalated")),
        streak=int(row.get("streak") or 0),
        recent=tuple(row.get("recent") or ()),
        last_run_id=row.get("last_run_id"),
        failing=None if row.get("failing") is None else tuple(row["failing"]),
    )


def _row_from_state(state: AlertState) -> dict[str, Any]:
    return {
        "status": state.status,
        "announced": state.announced,
        "bad_since": _maybe_utc(state.bad_since),
        "critical_since": _maybe_utc(state.critical_since),
        "opened": _maybe_utc(state.opened),
        "last_sent": _maybe_utc(state.last_sent),
        "escalated": state.escalated,
        "streak": state.streak,
        "recent": list(state.recent),
        "last_run_id": state.last_run_id,
        "failing": None if state.failing is None else list(state.failing),
    }


def _maybe_utc(moment: datetime | None) -> str | None:
    return utc_text(moment)


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
