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

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from runner.alerts.decide import Alert, AlertState, decide
from runner.alerts.wording import build_message, needed_retries
from runner.base.clock import utc_text
from runner.base.errors import RunbookError
from runner.base.status import Status, worst
from runner.language.policy import Policy
from runner.language.results import RunResult
from runner.notifiers.deliver import deliver

if TYPE_CHECKING:
    from runner.history.store import StateStore
    from runner.language.config import Config
    from runner.language.model import Runbook
    from runner.notifiers.services import Notifier

_RETRY_AGAIN = ("new", "worse", "better", "spread", "repeat")


# -- policies and subjects ------------------------------------------------------------------


def runbook_policy(runbook: Runbook, config: Config) -> Policy:
    """runner.yaml's default policy with the runbook's `notify:` keys over it."""
    from runner.notifiers.settings import settings

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
    escalated_before: dict[str, int] = {}  # stages announced before this run, by subject

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
            escalated_before[subject] = previous.escalated if previous else 0
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
                escalated=(
                    escalated_before.get(alert.subject, 0) if alert.kind == "escalation" else None
                ),
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
        escalated=int(row.get("escalated") or 0),
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
