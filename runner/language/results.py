"""What a run produced: plain data the engine fills and record/announce/report read."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from runner.base.status import Status
from runner.base.structs import Struct, asdict, field
from runner.base.timestamps import timestamp


class Attempt(Struct):
    """One try of a step: when it started, how long it took, and its error if it failed."""

    number: int
    started: datetime
    duration: float
    outcome: str  # ok | failed | timed_out | aborted | not_yet (until)
    error: str | None = None
    transient: bool = False  # the failure was of a kind worth retrying


class Evaluation(Struct):
    """One threshold or assertion applied to a step's result."""

    name: str
    status: Status
    text: str  # readable: "pending_count = 37 > warning 10"
    value: Any = None
    warning: Any = None
    critical: Any = None
    direction: str | None = None  # thresholds only
    kind: str = "threshold"  # threshold | assert


class ItemsSummary(Struct):
    """The items of a `for_each`, counted: what is left of the OK ones that were folded
    (not kept one by one, engine/items.py) and how many of each status there were."""

    counts: dict[str, int] = field(default_factory=dict)  # status value -> items
    # Per threshold value of the OK items ("probe.v"): count, min, max, avg.
    ok_values: dict[str, dict[str, float]] = field(default_factory=dict)
    folded: int = 0  # OK items kept only in `counts` and `ok_values`, not in `children`

    @property
    def total(self) -> int:
        return sum(self.counts.values())


class StepResult(Struct):
    """What one step did in a run: its status, values, evaluations, attempts and hint."""

    id: str
    title: str
    action: str
    status: Status = Status.OK
    # How it ended (its status says how bad that is): ok | failed | timed_out | refused
    # (not confirmed) | aborted | skipped (when false) | not_run (dry-run, or stopped before)
    outcome: str = "ok"
    started: datetime | None = None
    duration: float = 0.0
    values: dict[str, Any] = field(default_factory=dict)
    evaluations: list[Evaluation] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    error: str | None = None
    hint: str | None = None
    children: list[StepResult] = field(default_factory=list)  # for_each items, groups, checks
    rendered: dict[str, Any] | None = None  # --dry-run / --rehearse: what would be sent
    item: Any = None  # the for_each item this result is for
    origin: str | None = None  # file:line of the step
    items_summary: ItemsSummary | None = None  # a for_each: its items counted
    # What a real (or rehearsed) run sent, masked and cut (engine/sent.py): a SQL step's
    # connection, sql (placeholders), params (bound values), file; None for others.
    statement: dict[str, Any] | None = None
    # A check or runbook call: its steps' template views by id, which later templates
    # read as steps.<id>.steps.<its step>. Kept for the run only, never in `values`, nor
    # recorded or reported: the children are there already, their values cut.
    steps_view: dict[str, Any] | None = None

    @property
    def bad(self) -> bool:
        return self.status.is_bad

    def template_view(self) -> dict[str, Any]:
        """What later templates see as steps.<id>: the values, and how the step ended
        (and a call's steps)."""
        view = {
            **self.values,
            "ok": not self.status.is_bad,
            "severity": self.status.value,
            "outcome": self.outcome,
        }
        if self.steps_view is not None:
            view["steps"] = self.steps_view
        return view

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = self.status.value
        data["started"] = timestamp(self.started)
        data["attempts"] = [
            {**asdict(attempt), "started": timestamp(attempt.started)} for attempt in self.attempts
        ]
        data["evaluations"] = [
            {**asdict(evaluation), "status": evaluation.status.value}
            for evaluation in self.evaluations
        ]
        data["children"] = [child.as_dict() for child in self.children]
        del data["steps_view"]
        if self.items_summary is None:
            del data["items_summary"]
        else:
            data["items_summary"] = asdict(self.items_summary)
        if self.statement is None:
            del data["statement"]
        return data


class RunResult(Struct):
    """What one run did: its status, steps and outcome, as recorded and reported."""

    run_id: str
    runbook: str
    title: str = ""
    kind: str = ""
    status: Status = Status.OK
    outcome: str = "completed"  # completed | aborted | skipped | refused | invalid
    mode: str = "run"  # run | dry-run | rehearse
    trigger: str = "manual"
    started: datetime | None = None
    ended: datetime | None = None
    inputs: dict[str, Any] = field(default_factory=dict)  # already masked
    user: str = ""
    host: str = ""
    steps: list[StepResult] = field(default_factory=list)
    error: str | None = None
    path: str | None = None
    # Deliveries of this run's messages (alerts and notify steps), filled after the
    # run was recorded: kind, subject, status, tags, url (masked), ok, error, attempts,
    # title, at, duration. See docs/output.md.
    notifications: list[dict[str, Any]] = field(default_factory=list)
    # Why the state store did not take this run's record, and where the record waits
    # (history/spool.py); None when it was recorded (or a dry run records nothing).
    not_recorded: str | None = None
    # The schedule slot a run of `runbook scheduler` was for (trigger schedule or
    # catchup): the fire time, not when the run started (jitter, a queue, catch-up).
    slot: datetime | None = None

    @property
    def duration(self) -> float:
        if self.started and self.ended:
            return (self.ended - self.started).total_seconds()
        return 0.0

    @property
    def exit_code(self) -> int:
        return self.status.exit_code

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "runbook": self.runbook,
            "title": self.title,
            "kind": self.kind,
            "status": self.status.value,
            "exit_code": self.exit_code,
            "outcome": self.outcome,
            "mode": self.mode,
            "trigger": self.trigger,
            "started": timestamp(self.started),
            "ended": timestamp(self.ended),
            "duration": round(self.duration, 6),
            "inputs": self.inputs,
            "user": self.user,
            "host": self.host,
            "error": self.error,
            "steps": [step.as_dict() for step in self.steps],
            "notifications": [dict(item) for item in self.notifications],
            # Only when the store did not take the record: older readers see no change.
            **({"not_recorded": self.not_recorded} if self.not_recorded else {}),
            **({"slot": timestamp(self.slot)} if self.slot else {}),
        }


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    return (
        value
        if isinstance(value, datetime)
        else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    )


def step_from_dict(data: dict[str, Any]) -> StepResult:
    """A StepResult back from its stored or JSON form (for `runbook history --run`)."""
    return StepResult(
        id=data.get("id") or "",
        title=data.get("title") or "",
        action=data.get("action") or "",
        status=Status(data.get("status") or "UNKNOWN"),
        outcome=data.get("outcome") or "",
        started=_time(data.get("started")),
        duration=data.get("duration") or 0.0,
        values=data.get("values") or {},
        evaluations=[
            Evaluation(
                name=e.get("name", ""),
                status=Status(e.get("status") or "UNKNOWN"),
                text=e.get("text", ""),
                value=e.get("value"),
                warning=e.get("warning"),
                critical=e.get("critical"),
                direction=e.get("direction"),
                kind=e.get("kind", "threshold"),
            )
            for e in data.get("evaluations") or []
        ],
        attempts=[
            Attempt(
                number=a.get("number", i + 1),
                started=_time(a.get("started")) or datetime.min,
                duration=a.get("duration") or 0.0,
                outcome=a.get("outcome", ""),
                error=a.get("error"),
                transient=bool(a.get("transient")),
            )
            for i, a in enumerate(data.get("attempts") or [])
        ],
        error=data.get("error"),
        hint=data.get("hint"),
        children=[step_from_dict(child) for child in data.get("children") or []],
        rendered=data.get("rendered"),
        item=data.get("item"),
        origin=data.get("origin"),
        items_summary=_items_summary(data.get("items_summary")),
        statement=data.get("statement"),
    )


def _items_summary(data: Any) -> ItemsSummary | None:
    if not isinstance(data, dict):
        return None
    return ItemsSummary(
        counts=dict(data.get("counts") or {}),
        ok_values=dict(data.get("ok_values") or {}),
        folded=int(data.get("folded") or 0),
    )


def run_from_dict(data: dict[str, Any]) -> RunResult:
    """A RunResult back from its stored or JSON form."""
    return RunResult(
        run_id=data["run_id"],
        runbook=data.get("runbook") or "",
        title=data.get("title") or "",
        kind=data.get("kind") or "",
        status=Status(data.get("status") or "UNKNOWN"),
        outcome=data.get("outcome") or "",
        mode=data.get("mode") or "run",
        trigger=data.get("trigger") or "",
        started=_time(data.get("started")),
        ended=_time(data.get("ended")),
        inputs=data.get("inputs") or {},
        user=data.get("user") or "",
        host=data.get("host") or "",
        steps=[step_from_dict(step) for step in data.get("steps") or []],
        error=data.get("error"),
        path=data.get("path"),
        notifications=list(data.get("notifications") or []),
        slot=_time(data.get("slot")),
    )
