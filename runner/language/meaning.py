"""Checks of meaning that a JSON Schema cannot express, run on the model.

The model (build.py) keeps where each value was written, so every problem names its
file, line and key. Checked: what a step holds (one step type, its own keys, nested
steps), duplicate ids, references to steps that do not exist or come later, unknown
inputs, connections, checks and runbooks, runbook call cycles, template syntax and the
names templates read, thresholds whose warning lies beyond critical, cron schedules and
time zones, notify policies and the tags they name (notifychecks.py); each step type
adds its own checks (steptypes.py). Every problem is collected, not just the first.

The model of a document the schema rejected is checked too: values may then have
another type than the schema's, and nothing here may fail on them.
"""

from __future__ import annotations

import re
from collections.abc import Container, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from runner.base.errors import Problem
from runner.base.gc_pause import paused_gc
from runner.language import scheduling, templates
from runner.language.calls import check_call
from runner.language.config import STATE_CONNECTION
from runner.language.model import Origin, Runbook, Step
from runner.language.nodes import plain
from runner.language.notifychecks import check_notifications
from runner.language.steptypes import (
    Catalog,
    SourceLines,
    StepChecks,
    StepDeclaration,
    StepTypes,
    known_hint,
)
from runner.language.transactions import check_transaction
from runner.language.varchecks import check_vars

__all__ = ["meaning"]

# `steps.x`, and not the `steps.` inside a check's or a called runbook's: steps.call.steps.y
_STEP_REF = re.compile(
    r"(?<!\.)\bsteps(?:\.([A-Za-z_][A-Za-z0-9_]*)|\[\s*['\"]([^'\"]+)['\"]\s*\])"
)
_INPUT_REF = re.compile(r"\binputs(?:\.([A-Za-z_][A-Za-z0-9_]*)|\[\s*['\"]([^'\"]+)['\"]\s*\])")
_CONTEXT_NAMES = {
    "inputs",
    "steps",
    "env",
    "vars",
    "now",
    "run",
    "loop",
    "range",
    "dict",
    "lipsum",
    "cycler",
    "joiner",
    "namespace",
    "true",
    "false",
    "none",
    "True",
    "False",
    "None",
}
_FOR_EACH_KEYS = ("as", "concurrency", "on_item_error", "record")
_SECTIONS = ("steps", "finally", "on_failure")


class _Placed:
    """A step with where it sits: its section, whether it is top-level, its loop names."""

    __slots__ = ("step", "section", "top", "loops")

    def __init__(self, step: Step, section: str, top: bool, loops: frozenset[str]) -> None:
        self.step = step
        self.section = section
        self.top = top
        self.loops = loops  # `as` names of the for_each steps around it (and its own)


class _RunsBefore:
    """The ids a main-section step may read: the main steps placed above it (first
    `limit` places of `position`), and itself with its nested steps (`own`)."""

    __slots__ = ("position", "limit", "own")

    def __init__(self, position: dict[str, int], limit: int, own: set[str]) -> None:
        self.position = position
        self.limit = limit
        self.own = own

    def __contains__(self, ref: object) -> bool:
        if ref in self.own:
            return True
        place = self.position.get(ref) if isinstance(ref, str) else None
        return place is not None and place < self.limit


class _Checker:
    def __init__(
        self, runbook: Runbook, file: Path, library: Catalog, step_types: StepTypes[StepDeclaration]
    ) -> None:
        self.runbook = runbook
        self.file = file
        self.kind = "check" if runbook.is_check else "runbook"
        self.me = None if runbook.is_check or not runbook.name else runbook.name
        self.library = library
        self.config = library.config
        self.step_types = step_types
        self.problems: list[Problem] = []
        self.inputs = {spec.name for spec in runbook.inputs}
        self.ids: dict[str, Step] = {}
        self.input_names = frozenset(self.inputs)
        self.lines = SourceLines(file)  # read once, when a step first needs a position
        # A step has a few keys and step types have many options: each key is looked up.
        self.option_order = {option: n for n, option in enumerate(step_types.options)}
        self.connections = set(self.config.connections) | {STATE_CONNECTION}

    def add(
        self,
        origin: Origin,
        message: str,
        hint: str | None = None,
        at: str = "value",
        line_offset: int = 0,
    ) -> None:
        self.problems.append(origin.problem(message, hint, at=at, line_offset=line_offset))

    def known_hint(self, name: str, known: set[str], what: str) -> str:
        return known_hint(name, known, what, self.config)

    # -- walking -----------------------------------------------------------------------

    def placed(self) -> list[_Placed]:
        """Every step, in document order (steps, finally, on_failure), parents first."""
        out: list[_Placed] = []
        extra = frozenset({"check"}) if self.runbook.is_check else frozenset()
        for section, steps in zip(
            _SECTIONS,
            (self.runbook.steps, self.runbook.finally_, self.runbook.on_failure),
            strict=True,
        ):
            _place(steps, section, True, frozenset(), extra, out)
        return out

    # -- checks ------------------------------------------------------------------------

    def run(self) -> list[Problem]:
        self.check_schedule()
        self.check_runbook_connection()
        check_vars(self.runbook, self.add)
        placed = self.placed()
        order: list[str] = []
        for item in placed:
            step = item.step
            sid = step.id
            if sid in self.ids and "id" in step.keys:
                first = self.ids[sid]
                line = first.keys["id"].line if "id" in first.keys else first.origin.line
                self.add(
                    step.keys["id"],
                    f"duplicate step id {sid!r} (first used on line {line or '?'})",
                    "step ids must be unique in a runbook: results are reached as steps.<id>",
                )
            self.ids.setdefault(sid, step)
            if item.section == "steps":
                order.append(sid)
        main_ids = set(order)
        section_ids = {
            section: {item.step.id for item in placed if item.section == section}
            for section in _SECTIONS
        }
        for item in placed:
            self.check_step(item)
        # Where each main step first sits, so "does `ref` run before this step" is two
        # lookups (a set of all earlier ids per step made validation quadratic).
        position: dict[str, int] = {}
        for index, sid in enumerate(order):
            position.setdefault(sid, index)
        for item in placed:
            step = item.step
            earlier: Container[str]
            if item.section == "steps":
                own = {step.id}
                if step.steps:
                    own.update(nested.id for nested in _descendants(step))
                earlier = _RunsBefore(position, position.get(step.id, -1), own)
            else:
                earlier = main_ids | section_ids[item.section]
            self.check_references(step, earlier)
        self.check_on_failure()
        check_notifications(
            self.runbook,
            [(item.step, item.top and item.section == "steps") for item in placed],
            self.library,
            self.step_types,
            self.add,
        )
        return self.problems

    def check_schedule(self) -> None:
        schedule, keys = self.runbook.schedule, self.runbook.keys
        if isinstance(schedule, str) and not _valid_cron(schedule):
            self.add(
                keys["schedule"],
                f"{schedule!r} is not a valid cron schedule",
                'write five fields: minute hour day-of-month month day-of-week, e.g. "0 * * * *"',
            )
        timezone = self.runbook.timezone
        if isinstance(timezone, str) and "timezone" in keys:  # runner.yaml's: checked there
            from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

            try:
                ZoneInfo(timezone)
            except (ZoneInfoNotFoundError, ValueError):
                self.add(
                    keys["timezone"],
                    f"unknown time zone {timezone!r}",
                    "use an IANA name such as Europe/Berlin or UTC",
                )
        self.problems += scheduling.problems(self.runbook)

    def check_step(self, item: _Placed) -> None:
        step = item.step
        keys = step.keys
        written = set(keys)  # asked for a dozen keys: one pass over them
        names = self.step_types.names
        actions = self.step_types.actions_in(keys)
        has_steps = "steps" in written
        if len(actions) > 1:
            self.add(
                step.origin,
                f"a step does exactly one thing, but this one has {', '.join(actions)}",
                "split it into one step per action",
                at="key",
            )
        elif not actions and not has_steps:
            self.add(
                step.origin,
                "the step does nothing: give it one of " + ", ".join(names) + " or nested steps",
                at="key",
            )
        elif actions and has_steps:
            self.add(
                keys["steps"],
                f"a {actions[0]} step cannot also hold nested steps",
                "nested steps belong to a group, a for_each or a transaction step",
                at="key",
            )
        action = actions[0] if len(actions) == 1 else None
        options = self.step_types.options
        taken = [key for key in written if key in options]  # most steps take none
        for option in sorted(taken, key=self.option_order.__getitem__) if taken else ():
            owners = options[option]
            if action not in owners:
                self.add(
                    keys[option],
                    f"{option!r} only belongs to {' or '.join(owners)} steps",
                    at="key",
                )
        self.check_judged(step, action)
        for key in _FOR_EACH_KEYS:
            if key in written and "for_each" not in written:
                self.add(keys[key], f"{key!r} only has a meaning beside for_each", at="key")
        if step.transaction:
            check_transaction(step, self.add)
        own = step.connection if "connection" in written else None
        self.check_connection(step, own)
        if action is not None:
            checks = StepChecks(
                step.origin,
                self.file,
                self.kind,
                self.me,
                own or self.runbook.connection,
                self.library,
                self.problems,
                self.input_names,
                self.lines,
                conditional=step.when is not None,
            )
            self.step_types[action].check(step.config, checks)
        self.check_thresholds(step)
        self.check_templates(step, item.loops)

    def check_judged(self, step: Step, action: str | None) -> None:
        """`thresholds` and `assert` where the engine applies them: never accepted here and
        then ignored by a run."""
        keys = step.keys
        for key in ("thresholds", "assert"):
            if action is None and key in keys and "steps" in keys:
                self.add(
                    keys[key],
                    f"{key!r} judges a step's own result, and a step of nested steps has none",
                    "put it on the nested step whose result it reads",
                    at="key",
                )
        if action == "check" and "assert" in keys:
            self.add(
                keys["assert"],
                "'assert' is not applied to a check call",
                "put it in the check's own steps, or override the check's thresholds here",
                at="key",
            )
        if action == "runbook" and "thresholds" in keys:
            self.add(
                keys["thresholds"],
                "a runbook call has no values to hold thresholds, only its status",
                "judge the call with assert: [{that: \"status == 'OK'\"}]",
                at="key",
            )

    def check_runbook_connection(self) -> None:
        """The runbook's default `connection:` names one runner.yaml defines (a typo here
        would otherwise only fail when the first sql step runs)."""
        name = self.runbook.connection
        known = self.connections
        if isinstance(name, str) and name not in known and "connection" in self.runbook.keys:
            self.add(
                self.runbook.keys["connection"],
                f"unknown connection {name!r}",
                self.known_hint(name, known, "connections"),
            )

    def check_connection(self, step: Step, name: Any) -> None:
        known = self.connections
        if isinstance(name, str) and name not in known:
            self.add(
                step.keys["connection"],
                f"unknown connection {name!r}",
                self.known_hint(name, known, "connections"),
            )

    def check_thresholds(self, step: Step) -> None:
        for threshold in step.thresholds:
            if threshold.warning_origin is None:  # no warning: nothing to compare
                continue
            warning, critical = threshold.warning, threshold.critical
            numbers = all(
                isinstance(v, int | float) and not isinstance(v, bool) for v in (warning, critical)
            )
            if not numbers:
                continue
            if threshold.direction == "above" and warning > critical:
                self.add(
                    threshold.warning_origin,
                    f"warning {warning} is above critical {critical}, so it could never fire",
                    "with direction above (bad when high), warning must be at most critical",
                )
            if threshold.direction == "below" and warning < critical:
                self.add(
                    threshold.warning_origin,
                    f"warning {warning} is below critical {critical}, so it could never fire",
                    "with direction below (bad when low), warning must be at least critical",
                )

    def check_templates(self, step: Step, loops: frozenset[str]) -> None:
        for text, origin, expression, of_result in step.templates:
            if not expression and "{{" not in text and "{%" not in text:  # not a template
                continue
            error = templates.syntax_error(text, expression)
            if error:
                message, line = error
                kind = "expression" if expression else "template"
                multi_line = "\n" in text.rstrip("\n")
                offset = line if (multi_line and line) else 0
                self.add(
                    origin,
                    f"{kind} syntax error: {message}",
                    "check the Jinja {{ }} / {% %} pairs",
                    line_offset=offset,
                )
                continue
            if of_result:
                continue  # the step's own result fields and columns are names there
            names = templates.referenced_names(text, expression)
            for name in sorted(names - _CONTEXT_NAMES - loops):
                self.add(
                    origin,
                    f"unknown name {name!r} in {'expression' if expression else 'template'}",
                    "names available: inputs, steps, env, vars, now, run"
                    + (", " + ", ".join(sorted(loops)) if loops else ""),
                )

    def check_references(self, step: Step, earlier: Container[str]) -> None:
        for text, origin, _, _ in step.templates:
            for match in _STEP_REF.finditer(text):
                ref = match.group(1) or match.group(2)
                if ref in earlier:
                    continue
                if ref in self.ids:
                    self.add(
                        origin,
                        f"step {ref!r} is used before it runs",
                        "a step can only read the results of steps above it",
                    )
                else:
                    self.add(
                        origin,
                        f"no step with id {ref!r}",
                        self.known_hint(ref, set(self.ids), "step ids"),
                    )
            for match in _INPUT_REF.finditer(text):
                ref = match.group(1) or match.group(2)
                if ref not in self.inputs:
                    self.add(
                        origin,
                        f"unknown input {ref!r}",
                        self.known_hint(ref, self.inputs, "inputs")
                        if self.inputs
                        else "declare it under `inputs:`",
                    )

    def check_on_failure(self) -> None:
        call = self.runbook.on_failure_runbook
        if call is not None:
            check_call(self.library, "runbook", call, self.me, self.add)


@lru_cache(maxsize=1024)
def _valid_cron(schedule: str) -> bool:
    """Whether `schedule` is a cron schedule of five fields (once per text: many
    runbooks share a schedule)."""
    from croniter import croniter

    return len(schedule.split()) == 5 and bool(croniter.is_valid(schedule))


def _place(
    steps: tuple[Step, ...],
    section: str,
    top: bool,
    loops: frozenset[str],
    extra: frozenset[str],
    out: list[_Placed],
) -> None:
    """Append `steps` and the steps nested in them to `out`, parents first. (A function of
    the module, not a closure: a recursive closure is a reference cycle, which would keep
    every step alive until the cyclic collector walks them all.)"""
    for step in steps:
        mine = loops | {str(plain(step.as_))} if "for_each" in step.keys else loops
        out.append(_Placed(step, section, top, mine | extra))
        _place(step.steps, section, False, mine, extra, out)


def _descendants(step: Step) -> Iterator[Step]:
    for nested in step.steps:
        yield nested
        yield from _descendants(nested)


def meaning(
    runbook: Runbook, file: Path, library: Catalog, step_types: StepTypes[StepDeclaration]
) -> list[Problem]:
    """Every problem of meaning in the model of a runbook or check read from `file`."""
    with paused_gc():  # many objects, no cycles: see runner.base.gc_pause
        return _Checker(runbook, file, library, step_types).run()
