"""Builds the runbook model from a YAML document, in one pass over it.

The front half of the pipeline reads top to bottom (library.py): parse the file with line
marks (yamlload), check the JSON Schema (schema), build the model here, then run the
checks of meaning on the model (meaning). Building is the only walk over the raw YAML:
each value becomes a typed, frozen model value and keeps its Origin; what cannot be
built (an input default of the wrong type) becomes a problem. The step types build their
own configs (steptypes.py), handed down as a registry.

A document the schema rejected is built too, so that the checks of meaning can run on
it: building never fails, and takes what cannot be read as absent (or as written).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from runner.base.durations import PATTERN, parse_duration
from runner.base.errors import Problem
from runner.base.gc_pause import paused_gc
from runner.base.status import Status
from runner.language.calls import read_call
from runner.language.config import Config
from runner.language.model import (
    NOTHING,
    Assertion,
    Call,
    InputSpec,
    NotifyPolicy,
    RetryPolicy,
    Runbook,
    Step,
    StepDefaults,
    TemplateText,
    Threshold,
)
from runner.language.nodes import Node, freeze, plain
from runner.language.scheduling import read_timing
from runner.language.steptypes import BuildScope, StepDeclaration, StepTypes

__all__ = ["Built", "build", "build_step", "step_id"]

# Keys every step may carry whose strings are templates (a step type declares its own).
_TEMPLATE_KEYS = ("title", "hint", "confirm")
# Keys of a step whose values the model keeps as written (frozen), with their fields.
_AS_WRITTEN = {
    "title": "title",
    "when": "when",
    "until": "until",
    "hint": "hint",
    "confirm": "confirm",
    "on_error": "on_error",
    "as": "as_",
    "on_item_error": "on_item_error",
    "record": "record",
}
# What a value the schema refused may raise when read as the type it should have.
_UNREADABLE = (ValueError, TypeError, AttributeError, KeyError)


@dataclass(frozen=True)
class Built:
    """The model of one document, and the problems found while building it."""

    runbook: Runbook
    problems: tuple[Problem, ...] = ()


def step_id(raw: Mapping[str, Any], path: tuple[Any, ...]) -> str:
    if "id" in raw:
        return str(raw["id"])
    return "step-" + "-".join(str(p + 1) for p in path if isinstance(p, int))


class _Builder:
    def __init__(
        self, document: Any, display: str, config: Config, step_types: StepTypes[StepDeclaration]
    ) -> None:
        self.root = Node.root(document, display)
        self.display = display
        self.config = config
        self.step_types = step_types
        self.problems: list[Problem] = []

    # -- the runbook ----------------------------------------------------------------------

    def runbook(self) -> Runbook:
        root = self.root
        doc = root.value
        is_check = "check" in doc and "runbook" not in doc
        try:
            defaults = self.config.defaults.merged(doc.get("defaults"))
        except _UNREADABLE:
            defaults = self.config.defaults
        connection = freeze(doc.get("connection"))
        on_failure_steps: tuple[Step, ...] = ()
        on_failure_runbook = None
        on_failure = root.at("on_failure")
        if on_failure is not None and on_failure.is_list:
            on_failure_steps = self.steps(on_failure, defaults, connection)
        elif on_failure is not None and on_failure.is_mapping:
            on_failure_runbook = (
                read_call(on_failure, "runbook")
                if "runbook" in on_failure
                else Call(None, on_failure.origin)
            )
        name = doc.get("check" if is_check else "runbook")
        tags = doc.get("tags")
        variables = doc.get("vars")
        variables_node = root.at("vars")
        notify = root.at("notify")
        return Runbook(
            name="" if name is None else str(name),
            path=self.display,
            title=freeze(doc.get("title", "")),
            kind=freeze(doc.get("kind", "check" if is_check else "health-check")),
            description=freeze(doc.get("description", "")),
            tags=freeze(tags) if isinstance(tags, list) else (),
            schedule=freeze(doc.get("schedule")),
            timezone=freeze(doc.get("timezone", self.config.timezone)),
            **read_timing(root, self.problems),
            connection=connection,
            inputs=self.inputs(root.at("inputs")),
            vars=MappingProxyType(plain(variables)) if isinstance(variables, Mapping) else NOTHING,
            var_keys=variables_node.positions() if variables_node is not None else NOTHING,
            notify=self.policy(notify) if notify is not None and notify.is_mapping else None,
            steps=self.steps(root.at("steps"), defaults, connection),
            on_failure=on_failure_steps,
            on_failure_runbook=on_failure_runbook,
            finally_=self.steps(root.at("finally"), defaults, connection),
            concurrency=freeze(doc.get("concurrency", "skip")),
            deadline=self.deadline(root, defaults),
            is_check=is_check,
            origin=root.origin,
            keys=root.positions(),
        )

    def deadline(self, root: Node, defaults: StepDefaults) -> float | None:
        """The runbook's own `deadline:`, else its defaults' (runner.yaml's under them)."""
        raw = root.value.get("deadline")
        if raw is None:
            return defaults.deadline
        try:
            return parse_duration(raw)
        except ValueError as error:  # the schema says what is wrong with it, but
            if isinstance(raw, str) and re.match(PATTERN, raw):
                # not that a well-formed duration is too long
                self.problems.append(root.child("deadline").origin.problem(str(error)))
            return defaults.deadline

    def inputs(self, node: Node | None) -> tuple[InputSpec, ...]:
        from runner.language.inputs import coerce

        out = []
        for name, item in node.items() if node is not None else ():
            spec = item.value
            if not isinstance(spec, Mapping):
                out.append(InputSpec(name=name))
                continue
            has_default = "default" in spec
            default = plain(spec.get("default"))
            if has_default:
                try:
                    # the value as written: its message names what it is, word for word
                    default = plain(coerce(spec, name, spec["default"]))
                except ValueError as error:
                    self.problems.append(
                        item.child("default").origin.problem(
                            f"default of input {name!r} is wrong: {error}",
                            f"the input is declared as type {spec.get('type', 'string')}",
                        )
                    )
                except _UNREADABLE:
                    pass  # a minimum or choices of the wrong type: the schema says so
            choices = spec.get("enum")
            out.append(
                InputSpec(
                    name=name,
                    type=freeze(spec.get("type", "string")),
                    default=default,
                    has_default=has_default,
                    description=freeze(spec.get("description", "")),
                    minimum=freeze(spec.get("minimum")),
                    maximum=freeze(spec.get("maximum")),
                    choices=tuple(plain(choices)) if isinstance(choices, list) else (),
                    secret=bool(spec.get("secret", False)),
                )
            )
        return tuple(out)

    def policy(self, node: Node) -> NotifyPolicy:
        """A `notify:` or `alert:` mapping, and where each of its values is."""
        origins = {}
        for key, item in node.items():
            origins[key] = item.origin
            if key == "escalate" and "to" in item:
                origins["escalate.to"] = item.child("to").origin
            for index, stage in enumerate(item.elements() if key == "escalate" else ()):
                if "to" in stage:  # a ladder of stages
                    origins[f"escalate[{index}].to"] = stage.child("to").origin
        return NotifyPolicy(
            MappingProxyType(plain(node.value)), node.origin, MappingProxyType(origins)
        )

    # -- steps ------------------------------------------------------------------------------

    def steps(self, node: Node | None, defaults: StepDefaults, connection: Any) -> tuple[Step, ...]:
        if node is None:
            return ()
        return tuple(
            self.step(item, defaults, connection)
            for item in node.elements()
            if isinstance(item.value, dict)
        )

    def step(self, node: Node, defaults: StepDefaults, connection: Any) -> Step:
        raw = node.value
        step_types = self.step_types
        actions = step_types.actions_in(raw)
        action = actions[0] if actions else "group"
        connection = freeze(raw["connection"]) if "connection" in raw else connection
        config: Any = None
        timeout = defaults.timeout
        if action != "group":
            step_type = step_types[action]
            config = step_type.build(node, BuildScope(self.config, connection))
            timeout = step_type.default_timeout(config, timeout)
        if "timeout" in raw:
            try:
                timeout = parse_duration(raw["timeout"])
            except ValueError as error:  # the schema says what is wrong with it, but
                if isinstance(raw["timeout"], str) and re.match(PATTERN, raw["timeout"]):
                    # not that a well-formed duration is too long
                    self.problems.append(node.child("timeout").origin.problem(str(error)))
        retry = defaults.retry
        try:
            retry = RetryPolicy.from_raw(raw["retry"], retry) if "retry" in raw else retry
        except _UNREADABLE:
            retry = defaults.retry
        try:
            concurrency = int(raw["concurrency"]) if "concurrency" in raw else 1
        except _UNREADABLE:
            concurrency = 1
        # the keys taken as written, of the few a step has (a step has a few keys and
        # there are many of these: each key is looked up)
        written = {_AS_WRITTEN[key]: freeze(raw[key]) for key in raw if key in _AS_WRITTEN}
        written.setdefault("on_error", defaults.on_error)
        if "for_each" in raw:
            for_each = raw["for_each"]
            written["for_each"] = (
                tuple(plain(item) for item in for_each)
                if isinstance(for_each, list)
                else freeze(for_each)
            )
        alert = node.at("alert") if "alert" in raw else None
        # templates in the order they are checked: conditions, asserts, thresholds, texts
        texts = self.conditions(node)
        asserts = self.asserts(node.at("assert"), texts) if "assert" in raw else ()
        thresholds = self.thresholds(node.at("thresholds"), texts) if "thresholds" in raw else ()
        return Step(
            id=step_id(raw, node.path),
            action=action,
            config=config,
            origin=node.origin,
            timeout=timeout,
            retry=retry,
            thresholds=thresholds,
            asserts=asserts,
            connection=connection,
            concurrency=concurrency,
            transaction=_transaction(raw["transaction"]) if "transaction" in raw else False,
            steps=self.steps(node.at("steps"), defaults, connection) if "steps" in raw else (),
            alert=self.policy(alert) if alert is not None and alert.is_mapping else None,
            keys=node.positions(),
            templates=self.templates(node, texts),
            **written,
        )

    def thresholds(self, node: Node | None, texts: list[TemplateText]) -> tuple[Threshold, ...]:
        """The step's thresholds; their templates and expressions go to `texts`."""
        out = []
        for name, item in node.items() if node is not None else ():
            spec = item.value
            if not isinstance(spec, dict):
                continue
            warning = item.origin_of("warning") if "warning" in spec else None
            for key in ("warning", "critical", "value"):
                text = spec.get(key)
                if isinstance(text, str):
                    where = item.origin_of(key) if warning is None or key != "warning" else warning
                    texts.append(TemplateText(text, where, key == "value", True))
            out.append(
                Threshold(
                    name,
                    freeze(spec.get("warning")),
                    freeze(spec.get("critical")),
                    freeze(spec.get("direction", "above")),
                    freeze(spec.get("value")),
                    item.origin,
                    warning,
                )
            )
        return tuple(out)

    def asserts(self, node: Node | None, texts: list[TemplateText]) -> tuple[Assertion, ...]:
        """The step's assertions; their conditions go to `texts`."""
        out = []
        for item in node.elements() if node is not None else ():
            value = item.value
            if isinstance(value, str):
                where = item.origin
                texts.append(TemplateText(value, where, True, True))
                out.append(Assertion(value, Status.CRITICAL, None, where))
            elif isinstance(value, dict):
                try:
                    severity = Status(str(value.get("severity", "critical")).upper())
                except ValueError:
                    severity = Status.CRITICAL
                that = value.get("that")
                if isinstance(that, str):
                    texts.append(TemplateText(that, item.origin_of("that"), True, True))
                message = freeze(value.get("message"))
                if isinstance(message, str):
                    texts.append(TemplateText(message, item.origin_of("message"), False, True))
                out.append(Assertion(str(that), severity, message, item.origin))
        return tuple(out)

    def conditions(self, node: Node) -> list[TemplateText]:
        """when, until and for_each, where they are expressions."""
        raw = node.value
        found: list[TemplateText] = []
        for key in ("when", "until", "for_each"):
            text = raw.get(key)
            if isinstance(text, str):
                found.append(TemplateText(text, node.origin_of(key), True, key == "until"))
        return found

    def templates(self, node: Node, found: list[TemplateText]) -> tuple[TemplateText, ...]:
        """`found` and the templates in the step's text keys and its step type's keys."""
        raw = node.value
        for key in _TEMPLATE_KEYS:
            if key in raw:
                # A hint is rendered once the step has run, with its own result's values
                # as names (engine/walker.py, _render_hint), as asserts are.
                found.extend(
                    TemplateText(*text, False, key == "hint") for text in node.texts_at(key)
                )
        for key, name in self.step_types.templated.items():
            if key in raw:
                step_type = self.step_types[name]
                found.extend(
                    TemplateText(*text, False) for text in step_type.templates(key, node.child(key))
                )
        return tuple(found)


def build(
    document: Any, display: str, config: Config, step_types: StepTypes[StepDeclaration]
) -> Built:
    """The model of a runbook or check document (a mapping), and what stood in the way."""
    with paused_gc():  # many objects, no cycles: see runner.base.gc_pause
        builder = _Builder(document, display, config, step_types)
        runbook = builder.runbook()
    return Built(runbook, tuple(builder.problems))


def build_step(
    raw: Mapping[str, Any],
    step_types: StepTypes[StepDeclaration],
    config: Config | None = None,
    display: str = "<step>",
) -> Step:
    """One step from a mapping as YAML gives it, such as {"id": "api", "http": {...}}: for
    tests and for callers that make steps in code."""
    builder = _Builder({"steps": [raw]}, display, config or Config(root=Path.cwd()), step_types)
    defaults = builder.config.defaults
    return builder.step(builder.root.child("steps").child(0), defaults, raw.get("connection"))


def _transaction(value: Any) -> bool | str:
    """`transaction:` as the engine reads it: True, "per_item", or False."""
    return "per_item" if value == "per_item" else value is True
