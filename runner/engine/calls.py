"""Steps that call other things: a reusable check, another runbook, on_failure.

A mixin of the Engine: these walk nested steps with the engine's own machinery.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from runner.base.status import Status, worst
from runner.databases.connections import Connections
from runner.language import templates
from runner.language.inputs import resolve_inputs
from runner.language.model import Runbook, Step
from runner.language.results import RunResult, StepResult


@dataclass
class Services:
    """What the steps of one run share: its connections, the engine, the runbook walked."""

    connections: Connections
    engine: Calls
    runbook: Runbook


class Calls:
    def _call_check(
        self, step: Step, scope: dict[str, Any], services: Services, result: StepResult
    ) -> None:
        check = self.library.check(step.config)
        arguments = templates.render_value(dict(step.with_), scope, f"{step.origin}.with")
        inputs = resolve_inputs(check.inputs, arguments, f"check {check.name}")
        overrides = {t.name: t for t in step.thresholds}
        local = {
            **scope,
            "inputs": inputs,
            "steps": {},
            "vars": {**scope["vars"], **check.vars},
            "check": {"name": check.name, "title": check.title},
            "__connection__": step.connection or scope.get("__connection__"),
        }
        for nested in check.steps:
            mine = tuple(overrides.pop(t.name, t) for t in nested.thresholds)
            child = self._step(
                nested,
                local,
                services,
                services.runbook,
                thresholds=mine if overrides or mine else None,
            )
            result.children.append(child)
            local["steps"][nested.id] = child.template_view()
        if check.title and not step.title:
            result.title = templates.render_value(check.title, local, str(step.origin))
        result.values = {"steps": local["steps"]}
        result.status = worst(c.status for c in result.children)
        result.hint = step.hint or next((c.hint for c in result.children if c.bad and c.hint), None)

    def _call_runbook(
        self, step: Step, scope: dict[str, Any], services: Services, result: StepResult
    ) -> None:
        runbook = self.library.runbook(step.config)
        arguments = templates.render_value(dict(step.with_), scope, f"{step.origin}.with")
        inputs = resolve_inputs(runbook.inputs, arguments, runbook.name)
        nested = RunResult(
            run_id=scope["run"]["id"],
            runbook=runbook.name,
            mode=self.options.mode,
            started=datetime.now(UTC),
        )
        self._execute_nested(runbook, nested, inputs, services)
        result.children = nested.steps
        result.status = nested.status
        result.values = {"status": nested.status.value, "runbook": runbook.name}
        if nested.error:
            result.error = nested.error

    def _execute_nested(
        self, runbook: Runbook, run: RunResult, inputs: dict[str, Any], services: Services
    ) -> None:
        scope = self._scope(runbook, run, inputs)

        nested_services = Services(services.connections, self, runbook)
        stopped = self._walk(runbook.steps, scope, nested_services, run.steps, runbook)
        run.status = worst(s.status for s in run.steps)
        if run.status is Status.CRITICAL and (runbook.on_failure or runbook.on_failure_runbook):
            self._on_failure(runbook, scope, nested_services, run)
        if runbook.finally_:
            self._walk(runbook.finally_, scope, nested_services, run.steps, runbook)
        run.status = worst(s.status for s in run.steps)
        run.error = stopped

    def _on_failure(
        self, runbook: Runbook, scope: dict[str, Any], services: Services, run: RunResult
    ) -> None:
        if runbook.on_failure:
            handled: list[StepResult] = []
            self._walk(runbook.on_failure, scope, services, handled, runbook)
            run.steps.append(
                StepResult(
                    "on_failure",
                    "on_failure",
                    "group",
                    worst(s.status for s in handled),
                    children=handled,
                )
            )
        elif runbook.on_failure_runbook:
            target = self.library.runbook(runbook.on_failure_runbook["runbook"])
            arguments = templates.render_value(
                dict(runbook.on_failure_runbook.get("with") or {}), scope, "on_failure"
            )
            nested = RunResult(
                run_id=run.run_id,
                runbook=target.name,
                mode=self.options.mode,
                started=datetime.now(UTC),
            )
            self._execute_nested(
                target, nested, resolve_inputs(target.inputs, arguments, target.name), services
            )
            run.steps.append(
                StepResult(
                    "on_failure",
                    f"on_failure: {target.name}",
                    "runbook",
                    nested.status,
                    children=nested.steps,
                    error=nested.error,
                )
            )
