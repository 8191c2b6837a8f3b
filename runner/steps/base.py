"""The step contract, as the engine and the reports see it.

runner/language/steptypes.py declares the half of a step type that loading a runbook
needs (keys, schema fragment, typed config, checks of meaning, default timeout); this
`StepType` adds the half that running one needs. A step type is one module under
runner/steps/ with one subclass of it, listed in the registry (runner/steps/__init__.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Protocol

from runner.language.steptypes import StepDeclaration

if TYPE_CHECKING:
    from runner.base.status import Status
    from runner.language.model import Step
    from runner.steps.context import StepContext


class Repeated(Protocol):
    """A step made ready to run for one item's scope after another (StepType.prepare)."""

    def __call__(self, scope: Mapping[str, Any], timeout: float) -> dict[str, Any]:
        """What `run` does with this scope and attempt timeout: the step's values."""
        ...

    def many(self, feed: Iterator[tuple[Mapping[str, Any], float]]) -> bool:
        """The step for each (scope, timeout) `feed` yields, as one batch where the step
        can do that, for items whose values nobody reads: True when `feed` ran out, False
        when it stopped at the last scope taken without running it (run that one with
        `__call__`). A failure raises as `__call__` does, for the last scope taken."""
        ...


class StepType(StepDeclaration):
    """What a step type does when it runs, and how its results read.

    `run` performs one attempt of the step and returns its result values (the mapping
    reachable later as `steps.<id>`); it raises StepError (TransientError to be retried)
    when the step fails. `describe` says what `run` would do without doing it (--dry-run).
    """

    def run(self, step: Step, ctx: StepContext) -> dict[str, Any]:
        raise NotImplementedError

    def describe(self, step: Step, ctx: StepContext) -> dict[str, Any]:
        raise NotImplementedError

    def prepare(self, step: Step, ctx: StepContext) -> Repeated | None:
        """`run` made ready once for many items of a `for_each` (engine/lean.py): a
        function of the item's scope and the attempt's timeout doing what `run` does
        with them; None when this type has nothing to make ready (the default)."""
        return None

    def verdict(self, step: Step, values: Mapping[str, Any]) -> tuple[Status, str] | None:
        """The status a result has on its own, and why (a command's non-zero exit code is
        CRITICAL unless the step has asserts); None when only thresholds and asserts judge."""
        return None

    def rehearsal(
        self, step: Step, ctx: StepContext, values: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """What a --rehearse run shows beside the values (a SQL step: its statement and the
        rows it touched before the rollback); None for nothing."""
        return None

    def statement(self, step: Step, ctx: StepContext) -> dict[str, Any] | None:
        """What an attempt of a real run sent, kept with the step's result for the run
        page and `history` (a SQL step: its statement and bound values, as `describe`
        renders them); None for nothing worth keeping (the default)."""
        return None

    def summary(self, values: Mapping[str, Any]) -> str | None:
        """The result in a few words for reports (`exit 0`, `HTTP 200 in 45 ms`); None for
        the generic `name = value` pairs."""
        return None

    def rendered_summary(self, rendered: Mapping[str, Any], mode: str) -> str | None:
        """What a --dry-run (or rehearsed) step would do, from `describe`, in a few words."""
        return None
