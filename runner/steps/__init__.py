"""Step executors, registered by name in one explicit registry.

A new step type is one new module with a class following `base.Executor`, added here.
"""

from __future__ import annotations

from importlib import import_module

from runner.base.errors import StepError, StepTimeout, TransientError
from runner.steps.base import Executor

# action name -> "module:Class"; imported on first use so start-up stays fast
_REGISTRY: dict[str, str] = {
    "sql": "runner.steps.sql:SqlStep",
    "http": "runner.steps.http:HttpStep",
    "command": "runner.steps.command:CommandStep",
    "wait": "runner.steps.wait:WaitStep",
    "notify": "runner.steps.notify:NotifyStep",
}
_LOADED: dict[str, Executor] = {}


def executor(action: str) -> Executor:
    found = _LOADED.get(action)
    if found is None:
        target = _REGISTRY.get(action)
        if target is None:
            known = ", ".join(sorted(_REGISTRY))
            raise KeyError(f"unknown step type {action!r}; known types: {known}")
        module, _, cls = target.partition(":")
        found = _LOADED[action] = getattr(import_module(module), cls)()
    return found


__all__ = ["Executor", "StepError", "StepTimeout", "TransientError", "executor"]
