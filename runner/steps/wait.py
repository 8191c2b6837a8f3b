"""The `wait` step: pause for a duration ("Start-Sleep -Seconds 10, then check")."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runner.base.durations import format_duration, parse_duration
from runner.base.errors import StepError, StepTimeout

if TYPE_CHECKING:
    from runner.language.model import Step
    from runner.steps.context import StepContext


class WaitStep:
    name = "wait"

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


def _seconds(step: Step, ctx: StepContext) -> float:
    try:
        return parse_duration(ctx.render(step.config))
    except ValueError as error:
        raise StepError(f"wait: {error}") from None
