"""Alert routing: the pure decision of who hears what after a run.

Given what people were last told about a subject (a runbook, or one step that
routes its own alerts), the status it has now and the policy, `decide` returns the
subject's next state and the messages to send. Nothing here touches the outside
world, and the clock is a parameter, so tests drive repeat and escalation intervals
without sleeping.

What is announced (changes, not noise):
- a new incident (OK -> WARNING / CRITICAL / UNKNOWN), once the status has been bad
  for `after` runs in a row (or `after` of the last M runs, written "N of M");
- a change of severity inside an open incident: worse (WARNING -> CRITICAL) or
  better (CRITICAL -> WARNING, told to the people of both severities);
- a step failing that people have not been told about, inside an open incident of
  the same severity (spread): a new problem must not hide behind an old one. A step
  that recovers while others still fail is not announced (the subject is still bad);
  the next message simply lists the steps failing then;
- the same failure again only once `repeat` has passed since the last message;
- an escalation, once per stage of `escalate:` in an incident, when it has been CRITICAL
  for that stage's `after` (one stage, or a ladder: dev after 30m, management after 2h);
- the recovery (-> OK), once, naming how long it was bad;
- a run that needed retries but ended OK, when `retried` names someone to tell.

A status with no tags opens no incident: nobody is told, so there is nothing to
recover from either. UNKNOWN without `unknown:` tags goes to the `critical` tags,
because a health check that cannot be evaluated is as bad as one that fails.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from runner.base.status import Status
from runner.language.policy import MAX_RECENT, Policy

#: Message kinds, in the order they are sent within one run.
KINDS = (
    "new", "worse", "better", "spread", "repeat", "escalation", "recovered", "retried",
)  # fmt: skip

_BAD = (Status.WARNING, Status.UNKNOWN, Status.CRITICAL)


@dataclass(frozen=True)
class AlertState:
    """What is known about one subject between runs (kept in the state store)."""

    status: str = "OK"  # the status of the last run
    announced: str | None = None  # the severity people were last told; None: no incident
    bad_since: datetime | None = None  # first bad run of the current streak
    critical_since: datetime | None = None  # first CRITICAL run of the current streak
    opened: datetime | None = None  # when the incident was first announced
    last_sent: datetime | None = None  # last message about the incident; None: send again
    escalated: int = 0  # how many stages of `escalate:` were announced in this incident
    streak: int = 0  # bad runs in a row
    recent: tuple[str, ...] = ()  # statuses of the last runs, oldest first
    last_run_id: str | None = None
    # The failing steps the last message to the severity's people named (what they
    # believe is broken). None: not known, a row kept before this was; the next run
    # takes the steps failing then as told, rather than announce them all as news.
    failing: tuple[str, ...] | None = ()

    @property
    def open(self) -> bool:
        return self.announced is not None


@dataclass(frozen=True)
class Alert:
    """One message to send: what changed, how bad it is now, and to whom."""

    kind: str  # one of KINDS
    status: Status  # the subject's status now (OK for recovered and retried)
    tags: tuple[str, ...]
    previous: str | None = None  # the severity people were told before
    bad_since: datetime | None = None
    bad_for: float | None = None  # seconds the subject has been (or was) bad
    subject: str = ""  # "" for the runbook as a whole, else a step id
    added: tuple[str, ...] = ()  # failing steps people had not been told about
    extra: Mapping[str, Any] = field(default_factory=dict)


def is_bad(status: Status) -> bool:
    return status in _BAD


def _threshold_met(policy: Policy, streak: int, recent: tuple[str, ...]) -> bool:
    if policy.within is None:
        return streak >= policy.after
    window = recent[-policy.within :]
    return sum(1 for status in window if Status(status) in _BAD) >= policy.after


def decide(
    state: AlertState | None,
    status: Status,
    policy: Policy,
    now: datetime,
    *,
    run_id: str = "",
    retried: bool = False,
    subject: str = "",
    failing: Sequence[str] = (),
) -> tuple[AlertState, list[Alert]]:
    """The subject's next state after a run that ended `status`, and the alerts to send.

    `failing`: the ids of the subject's bad steps in this run (for the runbook: its
    top-level bad steps that do not route their own alerts). A step among them that
    the last message did not name is news even when the severity is unchanged.
    A run already counted (same `run_id`) changes nothing, so announcing twice is harmless.
    """
    before = state or AlertState()
    if run_id and before.last_run_id == run_id:
        return before, []
    if status is Status.SKIPPED:
        return before, []
    bad = is_bad(status)
    current = tuple(dict.fromkeys(failing)) if bad else ()
    told = before.failing
    if told is None:  # a row from before the steps were kept: what fails now is known
        told = current if before.open else ()
    added = tuple(step for step in current if step not in told)
    recent = (*before.recent, status.value)[-MAX_RECENT:]
    after = replace(
        before,
        status=status.value,
        streak=before.streak + 1 if bad else 0,
        recent=recent,
        bad_since=(before.bad_since or now) if bad else None,
        critical_since=(before.critical_since or now) if status is Status.CRITICAL else None,
        last_run_id=run_id or before.last_run_id,
        failing=told,
    )
    alerts: list[Alert] = []

    def alert(kind: str, tags: tuple[str, ...], **extra: Any) -> bool:
        if tags:
            since = before.bad_since or after.bad_since
            alerts.append(
                Alert(
                    kind,
                    status,
                    tags,
                    previous=before.announced,
                    bad_since=since,
                    bad_for=(now - since).total_seconds() if since else None,
                    subject=subject,
                    **extra,
                )
            )
        return bool(tags)

    if not bad:
        if before.open:
            alert("recovered", policy.recovered)
        if retried:
            alert("retried", policy.retried)
        after = replace(after, announced=None, opened=None, last_sent=None, escalated=0, failing=())
        return after, alerts

    # Every message to the severity's people lists the steps failing now, so from then
    # on those are the steps they know of (escalation goes to others: it does not count).
    tags = policy.tags_for(status)
    if not before.open:
        # `after` counts the subject's bad runs, whichever steps failed in them.
        if tags and _threshold_met(policy, after.streak, recent):
            alert("new", tags)
            after = replace(
                after, announced=status.value, opened=now, last_sent=now, failing=current
            )
    elif status.value != before.announced:
        # The change of severity names the steps, the new ones marked: no spread besides.
        previous = Status(before.announced)
        if status.rank > previous.rank:
            alert("worse", tags, added=added)
        else:  # the people paged for the worse severity hear that it eased
            both = tuple(dict.fromkeys((*tags, *policy.tags_for(previous))))
            alert("better", both, added=added)
        after = replace(after, announced=status.value, last_sent=now, failing=current)
    elif added:
        # Inside an incident already announced, a newly failing step is told at once,
        # whatever `after` and `repeat` say: it is a new problem, not the old one again.
        if alert("spread", tags, added=added):
            after = replace(after, last_sent=now, failing=current)
    elif before.last_sent is None or (
        policy.repeat is not None and (now - before.last_sent).total_seconds() >= policy.repeat
    ):
        # last_sent is None when the previous message reached nobody: try again now.
        alert("repeat", tags)
        after = replace(after, last_sent=now, failing=current)

    if after.open and status is Status.CRITICAL and after.critical_since is not None:
        # The stages of the ladder now due and not yet announced, told in one message
        # (a runbook run hourly may pass two stages between two runs).
        critical_for = (now - after.critical_since).total_seconds()
        due = [
            tags
            for seconds, tags in policy.escalations[after.escalated :]
            if critical_for >= seconds
        ]
        if due:
            alert("escalation", tuple(dict.fromkeys(tag for tags in due for tag in tags)))
            after = replace(after, escalated=after.escalated + len(due))
    return after, alerts
