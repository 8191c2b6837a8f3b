"""The `wait` step: pause for a duration ("Start-Sleep -Seconds 10, then check")."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from runner.base.durations import format_duration, parse_duration
from runner.base.errors import StepError, StepTimeout
from runner.language.model import Origin
from runner.language.nodes import freeze
from runner.language.steptypes import BuildScope, StepConfig
from runner.language.templates import is_template
from runner.steps.base import StepType

if TYPE_CHECKING:
    from runner.language.model import Step
    from runner.language.nodes import Node
    from runner.steps.context import StepContext


class WaitConfig(StepConfig, frozen=True):
    duration: Any  # a duration (30s, 5m, a number of seconds) or a template of one
    origin: Origin


class WaitStep(StepType):
    name = "wait"
    schema = {"wait": {"$ref": "#/$defs/duration", "description": "Sleep this long, such as 10s."}}

    def build(self, node: Node, scope: BuildScope) -> WaitConfig:
        wait = node.child("wait")
        return WaitConfig(freeze(wait.value), wait.origin)

    def default_timeout(self, config: WaitConfig, timeout: float) -> float:
        """A wait may take as long as it waits, whatever the default timeout says."""
        if is_template(config.duration):
            return timeout
        try:
            return max(timeout, parse_duration(config.duration) + 1.0)
        except ValueError:  # the schema says what is wrong with it
            return timeout

    def run(self, step: Step, ctx: StepContext) -> dict[str, Any]:
        seconds = _seconds(step, ctx)
        if ctx.mode == "dry-run":
            return {"skipped": True, "reason": f"dry-run: would wait {format_duration(seconds)}"}
        if seconds > ctx.timeout:
            # the step's timeout bounds every step, a wait included: wait that long, then stop
            ctx.sleep(ctx.timeout)
            raise StepTimeout(
                f"wait {format_duration(seconds)} is longer than the step's timeout "
                f"{format_duration(ctx.timeout)}: raise timeout: or shorten the wait"
            )
        ctx.sleep(seconds)
        return {"waited": seconds}

    def describe(self, step: Step, ctx: StepContext) -> dict[str, Any]:
        seconds = _seconds(step, ctx)
        return {"wait": format_duration(seconds), "seconds": seconds}

    def rendered_summary(self, rendered: Mapping[str, Any], mode: str) -> str | None:
        return f"would wait {rendered['wait']}" if "wait" in rendered else None


def _seconds(step: Step, ctx: StepContext) -> float:
    try:
        return parse_duration(ctx.render(step.config.duration))
    except ValueError as error:
        raise StepError(f"wait: {error}") from None
