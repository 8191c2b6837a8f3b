"""Step types, registered by name in one explicit registry.

A new step type is one new module here with one subclass of `base.StepType` (its keys,
schema fragment, config, checks of meaning, executor, status mapping and summary),
added to `STEP_TYPES` below, plus its tests; then `scripts/generate-schema`. The order
is the order editors and messages list the step types in.

Each step type is registered by where its class is, with its keys (a `Deferred`), and
imported on first use: a run imports only the step types its runbook uses, while
`runbook validate` and the schema load them all. The registry checks the keys written
here against the class's when it imports it.

`check` and `runbook` call other runbook files; they are declared in
runner/language/calls.py and run by the engine (runner/engine/composites.py).

Step modules import what is heavy (requests, subprocess, sockets) where they use it.
"""

from __future__ import annotations

from typing import Any

from runner.base.errors import StepError, StepTimeout, TransientError
from runner.language.calls import CHECK, RUNBOOK
from runner.language.steptypes import Deferred, StepDeclaration, StepTypes
from runner.steps.base import StepType

STEP_TYPES: StepTypes[StepDeclaration] = StepTypes(
    [
        Deferred("sql", "runner.steps.sql:SqlStep"),
        Deferred("http", "runner.steps.http:HttpStep"),
        Deferred(
            "command",
            "runner.steps.command:CommandStep",
            keys=("shell", "env", "cwd"),
            template_keys=("command", "env", "cwd"),
        ),
        CHECK,
        RUNBOOK,
        Deferred("notify", "runner.steps.notify:NotifyStep"),
        Deferred("wait", "runner.steps.wait:WaitStep"),
        Deferred("files", "runner.steps.files:FilesStep"),
        Deferred("tcp", "runner.steps.tcp:TcpStep"),
        Deferred("backup", "runner.steps.backup:BackupStep"),
        Deferred("prometheus", "runner.steps.prometheus:PrometheusStep"),
        Deferred("system", "runner.steps.system:SystemStep"),
    ]
)


def executor(action: str, step_types: StepTypes[Any] = STEP_TYPES) -> StepType:
    """The step type that runs steps of `action` (`check` and `runbook` are the engine's)."""
    found = step_types[action]
    if not isinstance(found, StepType):
        raise KeyError(f"{action!r} steps are run by the engine, not by a step type")
    return found


__all__ = ["STEP_TYPES", "StepError", "StepTimeout", "StepType", "TransientError", "executor"]
