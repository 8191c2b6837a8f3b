"""One single step's action, a mixin of the Engine (walker.py) as composites.py is: the
context its step type runs in, its attempts (retries, until, the run's deadline capping
each timeout), and the judging of what came back: skipped, failed, thresholds and
asserts, the step type's verdict. The lean item path (lean.py) reuses the context and
the judging."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from typing import Any

from runner.base.errors import StepError, TemplateError
from runner.base.masking import Masker
from runner.base.status import Status, worst
from runner.base.structs import replace
from runner.engine import evaluate, retry
from runner.engine.composites import Services
from runner.engine.deadline import Deadline
from runner.engine.options import Options
from runner.engine.sent import record_statement
from runner.language import templates
from runner.language.model import RetryPolicy, Step, Threshold
from runner.language.results import StepResult
from runner.language.steptypes import StepDeclaration, StepTypes
from runner.steps import executor
from runner.steps.base import StepType
from runner.steps.context import StepContext

_ONCE = RetryPolicy(attempts=1)


class Actions(ABC):
    """What the Engine does with a single (not composite) step; the Engine holds the
    run's options, step types, deadline, masker and notifier declared here."""

    options: Options
    step_types: StepTypes[StepDeclaration]
    deadline: Deadline | None
    masker: Masker
    notifier: Any
    deliveries: list[dict[str, Any]]

    @abstractmethod
    def sleeper(self) -> Callable[[float], None]:
        """How steps and retries wait (ending at the run's deadline)."""

    def _log(self, line: str) -> None:
        """A progress line (--verbose) with the run's secrets masked: a command's argv or
        a request's URL may carry a secret input or a `${VAR}` value."""
        self.options.log(self.masker.mask_text(line))

    def _context(self, step: Step, scope: Mapping[str, Any], services: Services) -> StepContext:
        return StepContext(
            scope=scope,
            timeout=step.timeout,
            mode=self.options.mode,
            where=str(step.origin),
            services=services,
            sleep=self.sleeper(),
            log=self._log,
            notifier=self.notifier,
            deliveries=self.deliveries,
            abort=self.options.abort,
        )

    def _action(
        self,
        step: Step,
        scope: dict[str, Any],
        services: Services,
        result: StepResult,
        thresholds: tuple[Threshold, ...] | None = None,
        policy: RetryPolicy | None = None,
    ) -> None:
        runner = executor(step.action, self.step_types)
        ctx = self._context(step, scope, services)
        if self.options.mode == "dry-run":
            try:
                result.rendered = runner.describe(step, ctx)
            except TemplateError as error:
                result.rendered = {"note": f"rendered at run time: {error}"}
            result.status, result.outcome = Status.SKIPPED, "not_run"
            return
        until = None
        if step.until is not None:

            def until(values: dict[str, Any]) -> bool:
                found = values.get("row")
                row: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
                return bool(
                    templates.evaluate(
                        step.until,
                        {**scope, **row, **values, "result": values},
                        f"{step.origin}.until",
                    )
                )

        deadline = self.deadline

        def once() -> dict[str, Any]:
            if deadline is None:
                return runner.run(step, ctx)
            # Each attempt may take its timeout, or what is left before the deadline;
            # one that timed out at the deadline stops the run rather than being retried.
            try:
                return runner.run(step, replace(ctx, timeout=deadline.cap(step.timeout)))
            except StepError:
                deadline.check()
                raise

        if policy is None:
            # in a transaction a statement runs once: the transaction is retried as a whole
            policy = _ONCE if "__transaction__" in scope else step.retry
        values, attempts, failure = retry.attempt(
            once,
            policy,
            sleep=self.sleeper(),
            until=until,
        )
        result.attempts = attempts
        result.values = values or {}
        if self.options.mode == "rehearse":
            shown = runner.rehearsal(step, ctx, result.values)
            if shown is not None:
                result.rendered = shown
        record_statement(runner, step, ctx, result, self.masker)
        self._judge(step, runner, result, values, failure, scope, thresholds)

    def _judge(
        self,
        step: Step,
        runner: StepType,
        result: StepResult,
        values: dict[str, Any] | None,
        failure: StepError | None,
        scope: Mapping[str, Any],
        thresholds: tuple[Threshold, ...] | None = None,
    ) -> None:
        """The status of a step whose attempts ended with `values` (None: none came
        back) and `failure`: skipped, failed, its thresholds and asserts, its verdict."""
        if result.values.get("skipped"):
            result.status, result.outcome = Status.SKIPPED, "skipped"
            result.error = result.values.get("reason")
            return
        if failure is not None:
            result.status, result.outcome = Status.CRITICAL, failure.outcome
            result.error = str(failure)
            if len(result.attempts) > 1:
                result.error += f" (after {len(result.attempts)} attempts)"
            if values is None:
                return
        result.evaluations = evaluate.evaluate_step(step, result.values, scope, thresholds)
        statuses = [e.status for e in result.evaluations]
        verdict = runner.verdict(step, result.values)
        if verdict is not None:
            status, why = verdict
            result.error = result.error or why
            statuses.append(status)
            if status is Status.CRITICAL:
                result.outcome = "failed"
        result.status = worst([result.status, *statuses])
