"""The typed, immutable runbook model, and where each of its values was written.

build.py makes it from a YAML document in one pass; the checks of meaning (meaning.py)
run on it, and the engine walks it. A step's own config is typed by its step type
(steptypes.py). The model holds no raw YAML: values are plain and frozen, user data
(`vars:`, literal `for_each:` lists, `with:` arguments) sits in read-only mappings and
tuples, and every value the checks may report on keeps its `Origin` (file, line, column
and key path).

A document the JSON Schema rejected is built too, so that its checks of meaning can
run: then a field may hold a value of another type, as written (frozen). Such a model
is never run: Library.load refuses it with every problem found.
Nothing here parses text or touches the outside world.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

from runner.base.durations import parse_duration
from runner.base.errors import Problem
from runner.base.status import Status
from runner.base.structs import Struct, replace
from runner.language.marks import format_path

KINDS = ("processing", "health-check", "maintenance", "rollback", "troubleshooting")
DEFAULT_TIMEOUT = 60.0


class Origin(Struct):
    """Where something was declared: file, line, column and key path, for messages that
    name them (`runbooks/x.yaml:12:9: steps[2].sql`), and where its key is written.

    A value: builders make one for most values of a document, with `Origin.at`; its key
    path is formatted only when asked for (and then kept).
    """

    file: str
    line: int | None = None
    col: int | None = None
    key_line: int | None = None
    key_col: int | None = None
    _key: str | None = None  # the formatted `_path`, once asked for
    _path: tuple[Any, ...] | None = None

    @classmethod
    def at(
        cls,
        file: str,
        path: tuple[Any, ...],
        mark: tuple[int, int] | None,
        key_mark: tuple[int, int] | None,
    ) -> Origin:
        """Where the value at `path` is, from the (line, col) marks of it and of its key."""
        line, col = mark if mark is not None else (None, None)
        key_line, key_col = key_mark if key_mark is not None else (None, None)
        return cls(file, line, col, key_line, key_col, None, path)

    @property
    def key(self) -> str:
        """The key path, such as `steps[2].thresholds.pending_count`."""
        if self._key is None:
            self._key = format_path(self._path or ())
        return self._key

    @property
    def path(self) -> tuple[Any, ...]:
        return self._path if self._path is not None else ()

    def problem(
        self,
        message: str,
        hint: str | None = None,
        *,
        at: str = "value",
        line_offset: int = 0,
        severity: str = "error",
    ) -> Problem:
        """A Problem here: at the value, or (at="key") at its key; `line_offset` lines
        further down (a line inside a multi-line value), without a column."""
        line, col = (self.key_line, self.key_col) if at == "key" else (self.line, self.col)
        if line is not None and line_offset:
            line, col = line + line_offset, None
        return Problem(message, self.file, line, col, self.key or None, hint, severity)

    def _identity(self) -> tuple[Any, ...]:
        return (self.file, self.line, self.col, self.key)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Origin) and self._identity() == other._identity()

    def __hash__(self) -> int:
        return hash(self._identity())

    def __repr__(self) -> str:
        return f"Origin({str(self)!r})"

    def __str__(self) -> str:
        where = self.file
        if self.line:
            where += f":{self.line}"
            if self.col:
                where += f":{self.col}"
        key = self.key
        return f"{where}: {key}" if key else where


#: An empty read-only mapping: the default of mapping fields.
NOTHING: Mapping[str, Any] = MappingProxyType({})


class RetryPolicy(Struct, frozen=True):
    """How often a step is tried and how long it waits between attempts."""

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
            changes["attempts"] = int(raw["attempts"])  # ValueError on what the schema refused
        if "backoff" in raw:
            changes["backoff"] = raw["backoff"]
        if "delay" in raw:
            changes["delay"] = parse_duration(raw["delay"])
        if "max_delay" in raw:
            changes["max_delay"] = parse_duration(raw["max_delay"])
        return replace(policy, **changes)


class StepDefaults(Struct, frozen=True):
    """Policies every step gets unless it says otherwise."""

    timeout: float = DEFAULT_TIMEOUT
    retry: RetryPolicy = RetryPolicy()
    on_error: str = ""  # "" = by runbook kind: health checks continue, others stop
    #: The longest a whole run may take, in seconds (None or 0: no limit); a runbook's
    #: own `deadline:` wins over it.
    deadline: float | None = None

    def merged(self, raw: Mapping[str, Any] | None) -> StepDefaults:
        if not raw:
            return self
        return StepDefaults(
            timeout=parse_duration(raw["timeout"]) if "timeout" in raw else self.timeout,
            retry=RetryPolicy.from_raw(raw.get("retry"), self.retry),
            on_error=raw.get("on_error", self.on_error),
            deadline=parse_duration(raw["deadline"]) if "deadline" in raw else self.deadline,
        )


class InputSpec(Struct, frozen=True):
    """One declared input of a runbook: its type, default, bounds and whether it is secret."""

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


class Threshold(Struct, frozen=True):
    """A named value of a step's result with its warning and critical limits."""

    name: str
    warning: Any = None  # a number, or a template that renders to one
    critical: Any = None
    direction: str = "above"  # above | below: which side is bad
    value: str | None = None  # an expression; default: the column / result field `name`
    origin: Origin | None = None
    warning_origin: Origin | None = None


class Assertion(Struct, frozen=True):
    """An `assert:` entry: a condition on the step's result and the status it gives when false."""

    that: str
    severity: Status = Status.CRITICAL
    message: str | None = None
    origin: Origin | None = None


class TemplateText(NamedTuple):
    """A template or condition written in a step, for the checks of meaning."""

    text: str
    origin: Origin
    expression: bool  # a condition written without braces (when, until, assert, ...)
    of_result: bool = False  # in assert, until or thresholds: the step's own result is in scope


class Call(Struct, frozen=True):
    """A call of a check or runbook by name, with its arguments (templates, unrendered)."""

    name: str | None  # None when the document names it with something other than text
    origin: Origin  # of the name
    with_: Mapping[str, Any] = NOTHING  # the `with:` arguments: read-only, plain values

    @property
    def target(self) -> str | None:
        return self.name


class NotifyPolicy(Mapping[str, Any]):
    """A `notify:` or `alert:` mapping as written, key by key (language/policy.py reads it
    over runner.yaml's policy), with where each key's value is. An immutable value (a
    slotted class: a Struct cannot also be a Mapping)."""

    __slots__ = ("written", "origin", "origins")

    def __init__(
        self, written: Mapping[str, Any], origin: Origin, origins: Mapping[str, Origin] = NOTHING
    ) -> None:
        self.written = written  # read-only; its values plain, as `runbook show` prints them
        self.origin = origin
        self.origins = origins  # where the values are, by key; escalate's tags as "escalate.to"

    def __getitem__(self, key: str) -> Any:
        return self.written[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.written)

    def __len__(self) -> int:
        return len(self.written)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NotifyPolicy):
            return NotImplemented
        mine = (self.written, self.origin, self.origins)
        return mine == (other.written, other.origin, other.origins)

    __hash__ = None  # type: ignore[assignment]  # its mappings are not hashable

    def __repr__(self) -> str:
        return f"NotifyPolicy({self.written!r}, {self.origin!r}, {self.origins!r})"


class Step(Struct, frozen=True):
    """One step of a runbook as built from its YAML: what it runs and how it is judged."""

    id: str
    action: str  # the name of its step type, or "group" for a step that only holds `steps`
    config: Any  # its step type's typed config (a frozen StepConfig); None for a group
    origin: Origin
    title: str = ""
    when: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    retry: RetryPolicy = RetryPolicy()
    until: str | None = None
    thresholds: tuple[Threshold, ...] = ()
    asserts: tuple[Assertion, ...] = ()
    hint: str | None = None
    confirm: str | None = None
    on_error: str = ""  # stop | continue | warning; "" = by runbook kind
    connection: str | None = None  # its own, else its parent's or the runbook's
    for_each: Any = None  # an expression, or a literal list (a tuple of plain values)
    as_: str = "item"
    concurrency: int = 1
    on_item_error: str = "continue"  # continue | stop
    record: str = "bad"  # for_each items stored in full: bad (others aggregated) | all
    transaction: bool | str = False  # True: all or nothing; "per_item" (a for_each): per item
    steps: tuple[Step, ...] = ()
    alert: NotifyPolicy | None = None  # this step's own alert routing
    #: where each key the step writes is (value and key): the checks of meaning read
    #: which keys a step has (a key of another step type, `as` without `for_each`)
    keys: Mapping[str, Origin] = NOTHING
    #: every template and condition of the step itself, in document order
    templates: tuple[TemplateText, ...] = ()

    @property
    def label(self) -> str:
        return self.title or self.id

    @property
    def target(self) -> str | None:
        """What it runs, named: a SQL file, a check, a runbook (for `runbook show`)."""
        return getattr(self.config, "target", None)


class Runbook(Struct, frozen=True):
    """A runbook as built and validated from its file: inputs, steps and policies."""

    name: str
    path: str
    title: str = ""
    kind: str = "health-check"
    description: str = ""
    tags: tuple[str, ...] = ()
    schedule: str | None = None
    #: IANA zone of `schedule`: its own `timezone:`, else runner.yaml's; None: UTC
    timezone: str | None = None
    #: the schedule's policies, in seconds (defaults: runner/schedule/policy.py)
    jitter: float = 0.0
    catchup: str = "latest"  # none | latest | all
    catchup_window: float = 24 * 3600.0
    grace: float | None = None  # None: the default, from the schedule's interval
    connection: str | None = None
    inputs: tuple[InputSpec, ...] = ()
    vars: Mapping[str, Any] = NOTHING  # read-only; its values are plain (templates read them)
    #: where each var is (value and key), for the messages of a var that fails
    var_keys: Mapping[str, Origin] = NOTHING
    notify: NotifyPolicy | None = None
    steps: tuple[Step, ...] = ()
    on_failure: tuple[Step, ...] = ()
    on_failure_runbook: Call | None = None  # on_failure: {runbook: NAME, with: {...}}
    finally_: tuple[Step, ...] = ()
    concurrency: str = "skip"  # skip | wait | allow
    #: The longest a whole run may take, in seconds (None or 0: no limit): its own
    #: `deadline:`, else its `defaults:`' or runner.yaml's `defaults: deadline:`.
    deadline: float | None = None
    is_check: bool = False
    origin: Origin | None = None
    #: where each top-level key is (value and key), for the checks of meaning
    keys: Mapping[str, Origin] = NOTHING

    def input(self, name: str) -> InputSpec | None:
        for spec in self.inputs:
            if spec.name == name:
                return spec
        return None

    def all_steps(self) -> list[Step]:
        """Every step, nested ones included, in document order."""
        out: list[Step] = []
        for steps in (self.steps, self.on_failure, self.finally_):
            _add_steps(steps, out)
        return out

    def calls(self) -> list[str]:
        """The runbooks it calls, by name, in document order: `runbook:` steps (nested ones
        too) in steps, finally and on_failure, then `on_failure: {runbook: NAME}`."""
        steps: list[Step] = []
        for group in (self.steps, self.finally_, self.on_failure):
            _add_steps(group, steps)
        called = [
            step.config.name
            for step in steps
            if step.action == "runbook" and isinstance(step.config, Call) and step.config.name
        ]
        if self.on_failure_runbook is not None and self.on_failure_runbook.name:
            called.append(self.on_failure_runbook.name)
        return called


def _add_steps(steps: tuple[Step, ...], out: list[Step]) -> None:
    # A module function rather than a recursive closure: a closure that calls itself is
    # a reference cycle, which kept the list (and so the model) alive until a full
    # collection.
    for step in steps:
        out.append(step)
        _add_steps(step.steps, out)
