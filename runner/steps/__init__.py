"""Step types, registered by name in one explicit registry.

A new step type is one new module here with one subclass of `base.StepType` (its keys,
schema fragment, config, checks of meaning, executor, status mapping and summary),
added to `STEP_TYPES` below, plus its tests; then `scripts/generate-schema`. The order
is the order editors and messages list the step types in.

`check` and `runbook` call other runbook files; they are declared in
runner/language/calls.py and run by the engine (runner/engine/composites.py).

Step modules import what is heavy (requests, subprocess, sockets) where they use it,
so building the registry stays cheap: `runbook validate` loads every step type.
"""

from __future__ import annotations

from typing import Any

from runner.base.errors import StepError, StepTimeout, TransientError
from runner.language.calls import CHECK, RUNBOOK
from runner.language.steptypes import StepDeclaration, StepTypes
from runner.steps.base import StepType
from runner.steps.command import CommandStep
from runner.steps.files import FilesStep
from runner.steps.http import HttpStep
from runner.steps.notify import NotifyStep
from runner.steps.sql import SqlStep
from runner.steps.tcp import TcpStep
from runner.steps.wait import WaitStep

STEP_TYPES: StepTypes[StepDeclaration] = StepTypes(
    [
        SqlStep(),
        HttpStep(),
        CommandStep(),
        CHECK,
        RUNBOOK,
        NotifyStep(),
        WaitStep(),
        FilesStep(),
        TcpStep(),
    ]
)


def executor(action: str, step_types: StepTypes[Any] = STEP_TYPES) -> StepType:
    """The step type that runs steps of `action` (`check` and `runbook` are the engine's)."""
    found = step_types[action]
    if not isinstance(found, StepType):
        raise KeyError(f"{action!r} steps are run by the engine, not by a step type")
    return found


__all__ = ["STEP_TYPES", "StepError", "StepTimeout", "StepType", "TransientError", "executor"]
