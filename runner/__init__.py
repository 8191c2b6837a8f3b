"""runbook: a declarative runner for operations runbooks written in YAML.

The public API, for callers who embed the runner instead of using the command line:

    from runner import STEP_TYPES, Engine, Library, Options, load_config
    library = Library(load_config("runner.yaml"), STEP_TYPES)
    result = Engine(library, Options()).run(library.runbook("order-health"))
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

__version__ = "0.1.0"

__all__ = [
    "STEP_TYPES",
    "ConfigError",
    "Engine",
    "InputError",
    "InvalidInput",
    "Library",
    "Options",
    "Problem",
    "RunResult",
    "RunbookError",
    "Status",
    "TemplateError",
    "load_config",
]

_LAZY = {
    "Engine": "runner.engine.walker",
    "Options": "runner.engine.walker",
    "Library": "runner.language.library",
    "load_config": "runner.language.config",
    "RunResult": "runner.language.results",
    "STEP_TYPES": "runner.steps",
}

if TYPE_CHECKING:
    from runner.engine.walker import Engine, Options
    from runner.language.config import load_config
    from runner.language.library import Library
    from runner.language.results import RunResult
    from runner.steps import STEP_TYPES


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(name)
    from importlib import import_module

    return getattr(import_module(module), name)
