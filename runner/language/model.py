"""The typed, immutable runbook model built from a validated YAML document.

The raw YAML shape is checked by the JSON Schemas in schemas/ and by validate.py;
this module turns a valid document into frozen dataclasses the engine walks.
Nothing here parses text or touches the outside world.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from runner.base.durations import parse_duration
from runner.base.status import Status

#: Keys that choose what a step does; exactly one per step (or `steps` for a group).
ACTIONS = ("sql", "http", "command", "check", "runbook", "notify", "wait")
KINDS = ("processing", "health-check", "maintenance", "rollback", "troubleshooting")
INPUT_TYPES = ("string", "integer", "number", "boolean", "duration", "list")
DEFAULT_TIMEOUT = 60.0


@dataclass(frozen=True)
class Origin:
    """Where something was declared: for messages that name file, line and key."""

    file: str
    line: int | None = None
    col: int | None = None
    key: str = ""

    def __str__(self) -> str:
        where = self.file
        if self.line:
            where += f":{self.line}"
            if self.col:
                where += f":{self.col}"
        return f"{where}: {self.key}" if self.key else where


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 1
    backoff: str = "exponential"  # exponential | fixed
    delay: float = 1.0
    max_delay: float = 30.0

    @classmethod
    def from_raw(
        cls, raw: Mapping[str, Any] | None, base: RetryPolicy | None = None
    ) -> RetryPolicy:
        policy = base or cls()
        if not raw:
            return policy
        changes: dict[str, Any] = {}
        if "attempts" in raw:
            changes["attempts"] = int(raw["attempts"])
        if "backoff" in raw:
            changes["backoff"] = raw["backoff"]
        if "delay" in raw:
            changes["delay"] = parse_duration(raw["delay"])
        if "max_delay" in raw:
            changes["max_delay"] = parse_duration(raw["max_delay"])
        return replace(policy, **changes)


@dataclass(frozen=True)
class StepDefaults:
    """Policies every step gets unless it says otherwise."""

    timeout: float = DEFAULT_TIMEOUT
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    on_error: str = ""  # "" = by runbook kind: health checks continue, others stop

    def merged(self, raw: Mapping[str, Any] | None) -> StepDefaults:
        if not raw:
            return self
        return StepDefaults(
            timeout=parse_duration(raw["timeout"]) if "timeout" in raw else self.timeout,
            retry=RetryPolicy.from_raw(raw.get("retry"), self.retry),
            on_error=raw.get("on_error", self.on_error),
        )


@dataclass(frozen=True)
class InputSpec:
    name: str
    type: str = "string"
    default: Any = None
    has_default: bool = False
    description: str = ""
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[Any, ...] = ()
    secret: bool = False

    @property
    def required(self) -> bool:
        return not self.has_default


@dataclass(frozen=True)
class Threshold:
    name: str
    warning: Any = None  # a number, or a template that renders to one
    critical: Any = None
    direction: str = "above"  # above | below: which side is bad
    value: str | None = None  # an expression; default: the column / result field `name`
    origin: Origin | None = None


@dataclass(frozen=True)
class Assertion:
    that: str
    severity: Status = Status.CRITICAL
    message: str | None = None
    origin: Origin | None = None


@dataclass(frozen=True)
class Step:
    id: str
    action: str  # one of ACTIONS, or "group" for a step that only holds `steps`
    config: Any  # the action's own value (SQL text, http mapping, argv, ...), read-only
    origin: Origin
    title: str = ""
    when: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    until: str | None = None
    thresholds: tuple[Threshold, ...] = ()
    asserts: tuple[Assertion, ...] = ()
    hint: str | None = None
    confirm: str | None = None
    on_error: str = ""  # stop | continue | warning; "" = by runbook kind
    connection: str | None = None
    with_: Mapping[str, Any] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)  # shell, env, cwd for command
    for_each: Any = None  # an expression or a literal list
    as_: str = "item"
    concurrency: int = 1
    on_item_error: str = "continue"  # continue | stop
    transaction: bool = False
    steps: tuple[Step, ...] = ()
    sql_file: str | None = None  # the resolved file when `sql:` names one
    alert: Mapping[str, Any] = field(default_factory=dict)  # this step's own alert routing

    @property
    def label(self) -> str:
        return self.title or self.id


@dataclass(frozen=True)
class Runbook:
    name: str
    path: str
    title: str = ""
    kind: str = "health-check"
    description: str = ""
    tags: tuple[str, ...] = ()
    schedule: str | None = None
    timezone: str | None = None
    connection: str | None = None
    inputs: tuple[InputSpec, ...] = ()
    vars: Mapping[str, Any] = field(default_factory=dict)
    notify: Mapping[str, Any] = field(default_factory=dict)
    steps: tuple[Step, ...] = ()
    on_failure: tuple[Step, ...] = ()
    on_failure_runbook: Mapping[str, Any] | None = None  # {runbook: name, with: {...}}
    finally_: tuple[Step, ...] = ()
    concurrency: str = "skip"  # skip | wait | allow
    is_check: bool = False

    def input(self, name: str) -> InputSpec | None:
        for spec in self.inputs:
            if spec.name == name:
                return spec
        return None

    def all_steps(self) -> list[Step]:
        """Every step, nested ones included, in document order."""
        out: list[Step] = []

        def walk(steps: tuple[Step, ...]) -> None:
            for step in steps:
                out.append(step)
                walk(step.steps)

        walk(self.steps)
        walk(self.on_failure)
        walk(self.finally_)
        return out
