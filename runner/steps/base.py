"""The one small interface every step executor shares."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from runner.language.model import Step
    from runner.steps.context import StepContext


class Executor(Protocol):
    """What a step type does.

    `run` performs the step and returns its result values (the mapping reachable later
    as `steps.<id>`); it raises StepError (or a subclass) when the step fails.
    `describe` renders what `run` would do without doing it (`--dry-run`).
    """

    name: str

    def run(self, step: Step, ctx: StepContext) -> dict[str, Any]: ...

    def describe(self, step: Step, ctx: StepContext) -> dict[str, Any]: ...
