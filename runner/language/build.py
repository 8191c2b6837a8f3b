"""Builds the immutable model from a document that passed schema and meaning checks."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runner.base.durations import parse_duration
from runner.base.status import Status
from runner.language.config import Config
from runner.language.model import (
    Assertion,
    InputSpec,
    RetryPolicy,
    Runbook,
    Step,
    StepDefaults,
    Threshold,
)
from runner.language.nodes import Node
from runner.language.steptypes import BuildScope, StepTypes


def step_id(raw: Mapping[str, Any], path: tuple[Any, ...]) -> str:
    if "id" in raw:
        return str(raw["id"])
    return "step-" + "-".join(str(p + 1) for p in path if isinstance(p, int))


class _Builder:
    def __init__(
        self, document: Mapping[str, Any], display: str, config: Config, step_types: StepTypes
    ) -> None:
        self.document = document
        self.root = Node.root(document, display)
        self.display = display
        self.config = config
        self.step_types = step_types

    def steps(
        self, node: Node | None, defaults: StepDefaults, connection: str | None
    ) -> tuple[Step, ...]:
        if node is None:
            return ()
        return tuple(self.step(item, defaults, connection) for item in node.elements())

    def step(self, node: Node, defaults: StepDefaults, connection: str | None) -> Step:
        raw = node.value
        path = node.path
        action = next((name for name in self.step_types.names if name in raw), "group")
        connection = raw.get("connection", connection)
        config: Any = None
        timeout = defaults.timeout
        if action != "group":
            step_type = self.step_types[action]
            config = step_type.build(node, BuildScope(self.config, connection))
            timeout = step_type.default_timeout(config, defaults.timeout)
        thresholds = []
        for name, item in node.child("thresholds").items() if "thresholds" in raw else ():
            spec = item.value
            thresholds.append(
                Threshold(
                    name=name,
                    warning=spec.get("warning"),
                    critical=spec.get("critical"),
                    direction=spec.get("direction", "above"),
                    value=spec.get("value"),
                    origin=item.origin,
                )
            )
        asserts = []
        for item in node.child("assert").elements() if "assert" in raw else ():
            where = item.origin
            value = item.value
            if isinstance(value, str):
                asserts.append(Assertion(value, Status.CRITICAL, None, where))
            else:
                asserts.append(
                    Assertion(
                        str(value["that"]),
                        Status(value.get("severity", "critical").upper()),
                        value.get("message"),
                        where,
                    )
                )
        return Step(
            id=step_id(raw, path),
            action=action,
            config=config,
            origin=node.origin,
            title=raw.get("title", ""),
            when=raw.get("when"),
            timeout=parse_duration(raw["timeout"]) if "timeout" in raw else timeout,
            retry=RetryPolicy.from_raw(raw.get("retry"), defaults.retry),
            until=raw.get("until"),
            thresholds=tuple(thresholds),
            asserts=tuple(asserts),
            hint=raw.get("hint"),
            confirm=raw.get("confirm"),
            on_error=raw.get("on_error", defaults.on_error),
            connection=connection,
            for_each=raw.get("for_each"),
            as_=raw.get("as", "item"),
            concurrency=int(raw.get("concurrency", 1)),
            on_item_error=raw.get("on_item_error", "continue"),
            transaction=bool(raw.get("transaction", False)),
            steps=self.steps(node.at("steps"), defaults, connection),
            alert=dict(raw.get("alert") or {}),
        )

    def inputs(self) -> tuple[InputSpec, ...]:
        from runner.language.inputs import coerce

        out = []
        for name, spec in (self.document.get("inputs") or {}).items():
            kind = spec.get("type", "string")
            has_default = "default" in spec
            default = coerce(spec, name, spec["default"]) if has_default else None
            out.append(
                InputSpec(
                    name=name,
                    type=kind,
                    default=default,
                    has_default=has_default,
                    description=spec.get("description", ""),
                    minimum=spec.get("minimum"),
                    maximum=spec.get("maximum"),
                    choices=tuple(spec.get("enum") or ()),
                    secret=bool(spec.get("secret", False)),
                )
            )
        return tuple(out)

    def runbook(self) -> Runbook:
        doc = self.document
        is_check = "check" in doc and "runbook" not in doc
        defaults = self.config.defaults.merged(doc.get("defaults"))
        connection = doc.get("connection")
        on_failure = doc.get("on_failure")
        on_failure_steps: tuple[Step, ...] = ()
        on_failure_runbook = None
        if isinstance(on_failure, list):
            on_failure_steps = self.steps(self.root.child("on_failure"), defaults, connection)
        elif isinstance(on_failure, Mapping):
            on_failure_runbook = dict(on_failure)
        return Runbook(
            name=str(doc["check"] if is_check else doc["runbook"]),
            path=self.display,
            title=doc.get("title", ""),
            kind=doc.get("kind", "check" if is_check else "health-check"),
            description=doc.get("description", ""),
            tags=tuple(doc.get("tags") or ()),
            schedule=doc.get("schedule"),
            timezone=doc.get("timezone"),
            connection=connection,
            inputs=self.inputs(),
            vars=dict(doc.get("vars") or {}),
            notify=dict(doc.get("notify") or {}),
            steps=self.steps(self.root.at("steps"), defaults, connection),
            on_failure=on_failure_steps,
            on_failure_runbook=on_failure_runbook,
            finally_=self.steps(self.root.at("finally"), defaults, connection),
            concurrency=doc.get("concurrency", "skip"),
            is_check=is_check,
        )


def build(
    document: Mapping[str, Any], display: str, config: Config, step_types: StepTypes
) -> Runbook:
    return _Builder(document, display, config, step_types).runbook()


def build_step(
    raw: Mapping[str, Any],
    step_types: StepTypes,
    config: Config | None = None,
    display: str = "<step>",
) -> Step:
    """One step from a mapping as YAML gives it, such as {"id": "api", "http": {...}}: for
    tests and for callers that make steps in code."""
    builder = _Builder({"steps": [raw]}, display, config or Config(root=Path.cwd()), step_types)
    defaults = builder.config.defaults
    return builder.step(builder.root.child("steps").child(0), defaults, raw.get("connection"))
