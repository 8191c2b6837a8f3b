"""runbook: a declarative runner for operations runbooks written in YAML.

The public API, for callers who embed the runner instead of using the command line:

    from runner import RunRequest, RunService, load_config
    service = RunService(load_config("runner.yaml"))
    result = service.run(RunRequest("order-health", params={"stale_minutes": "90"}))
    result.status, result.exit_code
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runner.base.errors import (
    ConfigError,
    InputError,
    InvalidInput,
    Problem,
    RunbookError,
    TemplateError,
)
from runner.base.status import Status

#: The release: the one place it is written (pyproject.toml reads it from here).
__version__ = "0.1.0"

__all__ = [
    "STEP_TYPES",
    "ConfigError",
    "InputError",
    "InvalidInput",
    "Library",
    "Problem",
    "RunRequest",
    "RunResult",
    "RunService",
    "RunbookError",
    "Status",
    "TemplateError",
    "load_config",
]

_LAZY = {
    "RunService": "runner.service.runs",
    "RunRequest": "runner.service.runs",
    "Library": "runner.language.library",
    "load_config": "runner.language.config",
    "RunResult": "runner.language.results",
    "STEP_TYPES": "runner.steps",
}

if TYPE_CHECKING:
    from runner.language.config import load_config
    from runner.language.library import Library
    from runner.language.results import RunResult
    from runner.service.runs import RunRequest, RunService
    from runner.steps import STEP_TYPES


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(name)
    from importlib import import_module

    return getattr(import_module(module), name)
