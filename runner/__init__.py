"""runbook: a declarative runner for operations runbooks written in YAML.

The public API, for callers who embed the runner instead of using the command line:

    from runner import Engine, Library, Options, load_config
    library = Library(load_config("runner.yaml"))
    result = Engine(library, Options()).run(library.runbook("order-health"))
    result.status, result.exit_code
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import ConfigError, InputError, InvalidInput, Problem, RunbookError, TemplateError
from .status import Status

__version__ = "0.1.0"

__all__ = [
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
    "Engine": "runner.engine",
    "Options": "runner.engine",
    "Library": "runner.library",
    "load_config": "runner.config",
    "RunResult": "runner.results",
}

if TYPE_CHECKING:
    from .config import load_config
    from .engine import Engine, Options
    from .library import Library
    from .results import RunResult


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(name)
    from importlib import import_module

    return getattr(import_module(module), name)
