"""The one small interface every step executor shares, and the errors it may raise."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..model import Step
    from .context import StepContext


class StepError(Exception):
    """The step failed. `transient` failures are retried by the step's retry policy."""

    outcome = "failed"
    transient = False


class TransientError(StepError):
    """Connection refused or reset, deadlock, HTTP 429/502/503/504: worth another attempt."""

    transient = True


class StepTimeout(TransientError):
    outcome = "timed_out"


class Executor(Protocol):
    """What a step type does.

    `run` performs the step and returns its result values (the mapping reachable later
    as `steps.<id>`); it raises StepError (or a subclass) when the step fails.
    `describe` renders what `run` would do without doing it (`--dry-run`).
    """

    name: str

    def run(self, step: Step, ctx: StepContext) -> dict[str, Any]: ...

    def describe(self, step: Step, ctx: StepContext) -> dict[str, Any]: ...
