"""Walks a runbook's steps: when, confirm, retry, until, on_error, on_failure and
finally. A single step's action (its step type's attempts, evaluating the results) is
in actions.py; the composite forms (groups, for_each, transactions, check and runbook
calls) are in composites.py.

The engine reaches only downstream: step types (steps/), evaluation, the state store
and the lock. Reporting and announcing happen after it returns a RunResult.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from runner.base.errors import (
    Aborted,
    ConfirmationRefused,
    LockLost,
    RunbookError,
    StepError,
    TemplateError,
)
from runner.base.hostname import hostname
from runner.base.masking import MASK, Masker
from runner.base.status import Status, worst
from runner.databases.connections import Connections
from runner.engine.actions import Actions
from runner.engine.composites import Composites, Services
from runner.engine.confirmations import confirm, refuse_unconfirmed
from runner.engine.deadline import Deadline, end_at_deadline
from runner.engine.options import Options
from runner.history.store import new_run_id
from runner.language import templates
from runner.language.filters import ON_SECRET
from runner.language.inputs import resolve_inputs
from runner.language.library import Library
from runner.language.model import Runbook, Step, Threshold
from runner.language.results import RunResult, StepResult

ABORT_OUTCOMES = (KeyboardInterrupt, Aborted)
_CONTINUE_KINDS = ("health-check", "troubleshooting")


class Engine(Actions, Composites):
    """Walks the steps of one run. The run service (runner/service/) wraps it with the
    inputs, the lock, the record and the announcement; the engine only walks."""

    def __init__(
        self, library: Library, options: Options | None = None, *, notifier: Any = None
    ) -> None:
        self.library = library
        self.config = library.config
        self.step_types = library.step_types
        self.options = options or Options()
        #: The Apprise notifier notify steps send through (None: nothing configured).
        self.notifier = notifier
        #: Deliveries notify steps made during the run, for the run service to record.
        self.deliveries: list[dict[str, Any]] = []
        # Between steps: does this run still hold its lock? (The run service sets it.)
        self.verify_lock: Callable[[str], None] = lambda before: None
        self.masker = Masker()
        environ = self.options.environ if self.options.environ is not None else os.environ
        self.environ = dict(environ)
        self.masker.add_env(self.environ)
        #: The run's deadline while execute() walks (None: no deadline).
        self.deadline: Deadline | None = None

    def resolve_inputs(self, runbook: Runbook, params: Mapping[str, Any]) -> dict[str, Any]:
        """Typed inputs from `params`; secret ones are masked from here on. Raises InputError."""
        inputs = resolve_inputs(runbook.inputs, params, runbook.name)
        for spec in runbook.inputs:
            if spec.secret and inputs.get(spec.name) not in (None, ""):
                self.masker.add(str(inputs[spec.name]))
        return inputs

    def new_run(self, runbook: Runbook, inputs: Mapping[str, Any]) -> RunResult:
        """The record of a run about to start (raises ConfirmationRefused first when a step
        needs a confirmation that cannot be asked for)."""
        run = RunResult(
            run_id=new_run_id(),
            runbook=runbook.name,
            title=runbook.title,
            kind=runbook.kind,
            mode=self.options.mode,
            trigger=self.options.trigger,
            started=datetime.now(UTC),
            inputs=self._masked_inputs(runbook, inputs),
            user=_user(),
            host=hostname(),
            path=runbook.path,
        )
        scope = self._scope(runbook, run, dict(inputs))
        refuse_unconfirmed(runbook, scope, self.options)
        run.title = self.title(runbook.title, scope)
        return run

    def _masked_inputs(self, runbook: Runbook, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """The inputs as recorded and shown: masked, and a secret one masked whole
        whatever its type (text masking leaves the number of an integer input as it is)."""
        masked = self.masker.mask(dict(inputs))
        for spec in runbook.inputs:
            if spec.secret and masked.get(spec.name) not in (None, ""):
                masked[spec.name] = MASK
        return masked

    def title(self, text: str, scope: Mapping[str, Any]) -> str:
        """A `title:` rendered with the run's scope, its secrets masked."""
        return self.masker.mask_text(templates.render_title(text, scope))

    def execute(self, runbook: Runbook, run: RunResult, inputs: dict[str, Any]) -> None:
        """Walk `runbook` into `run`: steps, on_failure, finally; an abort ends it aborted."""
        connections = Connections(
            self.config,
            rehearse=self.options.mode == "rehearse",
            overrides=self.options.connection_overrides,
            on_secret=self.masker.add,
            abort=self.options.abort,
            run_id=run.run_id,
        )
        services = Services(connections, self, runbook)
        scope = self._scope(runbook, run, inputs)
        if self.options.deadline:
            self.deadline = Deadline(self.options.deadline, self.options.clock, self.options.abort)
            self.deadline.start()
        try:
            try:
                stopped = self._walk(runbook.steps, scope, services, run.steps, runbook)
                run.status = worst(step.status for step in run.steps)
                if run.status is Status.CRITICAL and (
                    runbook.on_failure or runbook.on_failure_runbook
                ):
                    self._on_failure(runbook, scope, services, run)
                if runbook.finally_:
                    self._walk(
                        runbook.finally_, scope, services, run.steps, runbook, label="finally"
                    )
                run.status = worst(step.status for step in run.steps)
                if stopped:
                    run.error = stopped
            except ABORT_OUTCOMES as interruption:
                if self.deadline is not None and self.deadline.reached:
                    end_at_deadline(runbook, run, self.deadline)
                    return
                run.outcome = "aborted"
                run.status = Status.UNKNOWN
                if isinstance(interruption, LockLost):
                    run.error = str(interruption)
                else:
                    by = interruption.by if isinstance(interruption, Aborted) else "Ctrl-C"
                    run.error = f"aborted by {by}; open transactions were rolled back"
                for step in run.steps:
                    if step.outcome == "running":
                        step.outcome, step.status = "aborted", Status.UNKNOWN
        finally:
            if self.deadline is not None:
                self.deadline.stop()
            connections.close_all()
            run.ended = datetime.now(UTC)

    def sleeper(self) -> Callable[[float], None]:
        """How steps and retries wait: ending at the run's deadline, if it has one."""
        if self.deadline is None:
            return self.options.sleep
        return self.deadline.sleeper(self.options.sleep)

    def _scope(self, runbook: Runbook, run: RunResult, inputs: dict[str, Any]) -> dict[str, Any]:
        scope: dict[str, Any] = {
            "inputs": inputs,
            "steps": {},
            "env": self.environ,
            "vars": {},
            "now": run.started,
            "run": {
                "id": run.run_id,
                "runbook": runbook.name,
                "started": run.started,
                "mode": run.mode,
                "trigger": run.trigger,
                # runner.yaml's folder, where the relative paths of files:, command's
                # cwd and sqlite: start: for paths the runner does not open itself (a
                # bound value SQLite opens, an argument of a command).
                "root": str(self.config.root),
            },
            "__connection__": runbook.connection,
            # What hmac_sha256 (language/filters.py) registers its key and signature
            # with: every rendering of the run's templates (vars, titles, hints,
            # confirm questions, conditions) derives its scope from this one.
            ON_SECRET: self.masker.add,
        }
        scope["vars"] = self._vars(runbook, scope)
        return scope

    def _vars(self, runbook: Runbook, scope: Mapping[str, Any]) -> dict[str, Any]:
        """runner.yaml's vars and the runbook's own (which win), rendered. A var may be a
        template of inputs, env, now and run, rendered once as the run starts: `edi: "{{
        env.EDI_URL | default('http://127.0.0.1:5000') }}"` is the production address when
        it is set and the demo's otherwise."""
        config = self.config
        inherited = {name: v for name, v in config.vars.items() if name not in runbook.vars}
        return {
            **templates.render_vars(inherited, config.var_keys, config.display_path, scope),
            **templates.render_vars(runbook.vars, runbook.var_keys, runbook.path, scope),
        }

    # ---------------------------------------------------------------- walking
    def _walk(
        self,
        steps: tuple[Step, ...],
        scope: dict[str, Any],
        services: Services,
        into: list[StepResult],
        runbook: Runbook,
        label: str = "",
    ) -> str | None:
        """Run `steps` in order into `into`; returns why it stopped early, if it did."""
        for index, step in enumerate(steps):
            self.verify_lock(step.id)  # LockLost when another host has taken the run over
            if self.deadline is not None:
                self.deadline.check()  # Aborted once the deadline has passed
            try:
                result = self._step(step, scope, services, runbook)
            except ABORT_OUTCOMES as interruption:
                partial = getattr(interruption, "step_result", None)
                if partial is not None:
                    into.append(partial)
                raise
            into.append(result)
            scope["steps"][step.id] = result.template_view()
            if self._stops_the_run(step, result, runbook):
                for rest in steps[index + 1 :]:
                    into.append(
                        StepResult(
                            rest.id,
                            rest.label,
                            rest.action,
                            Status.SKIPPED,
                            "not_run",
                            origin=str(rest.origin),
                            error=f"not run: {step.id} failed",
                        )
                    )
                return f"stopped after {step.id!r} ended {result.status} (on_error: stop)"
        return None

    def _stops_the_run(self, step: Step, result: StepResult, runbook: Runbook) -> bool:
        """CRITICAL (or not evaluable) with on_error: stop; failed for_each items are
        collected instead, unless on_item_error: stop."""
        if result.outcome == "refused":
            return True  # not confirmed: whatever on_error says, nothing after it runs
        if result.status.rank < Status.UNKNOWN.rank or self._on_error(step, runbook) != "stop":
            return False
        return step.for_each is None or step.on_item_error == "stop"

    def _on_error(self, step: Step, runbook: Runbook) -> str:
        return step.on_error or (
            "continue" if runbook.kind in _CONTINUE_KINDS or runbook.is_check else "stop"
        )

    def _step(
        self,
        step: Step,
        scope: dict[str, Any],
        services: Services,
        runbook: Runbook,
        thresholds: tuple[Threshold, ...] | None = None,
    ) -> StepResult:
        result = StepResult(
            step.id,
            self.title(step.label, scope),
            step.action,
            origin=str(step.origin),
            hint=step.hint,
        )
        result.started = datetime.now(UTC)
        clock = time.perf_counter()
        result.outcome = "running"
        if self.options.progress is not None:
            self.options.progress.step(result.title)
        try:
            if step.when is not None and not self._condition(step.when, scope, step, result):
                result.status, result.outcome = Status.SKIPPED, "skipped"
                return result
            if step.confirm:
                self._confirm(step, scope)
            if not self._composite(step, scope, services, runbook, result):
                self._action(step, scope, services, result, thresholds)
        except ABORT_OUTCOMES as interruption:
            result.status, result.outcome = Status.UNKNOWN, "aborted"
            result.error = "aborted while running; its open transaction was rolled back"
            result.duration = time.perf_counter() - clock
            setattr(interruption, "step_result", result)  # noqa: B010 - the walk above keeps it
            raise
        except RunbookError as error:
            self._failed(result, error)
        finally:
            result.duration = time.perf_counter() - clock
        self._conclude(step, runbook, result, scope)
        return result

    @staticmethod
    def _failed(result: StepResult, error: RunbookError) -> None:
        """How a step that raised `error` (not an abort) ends."""
        if isinstance(error, TemplateError):
            result.status, result.outcome, result.error = Status.UNKNOWN, "failed", str(error)
        elif isinstance(error, ConfirmationRefused):
            result.status, result.outcome, result.error = Status.CRITICAL, "refused", str(error)
        elif isinstance(error, StepError):
            # Failed outside the retry loop (describing it for --dry-run, say): what a
            # failed attempt means inside it, CRITICAL, not the UNKNOWN of the RunbookErrors.
            result.status, result.outcome, result.error = Status.CRITICAL, error.outcome, str(error)
        else:
            result.status, result.outcome = Status.UNKNOWN, "failed"
            result.error = error.format_message()

    def _conclude(
        self, step: Step, runbook: Runbook, result: StepResult, scope: Mapping[str, Any]
    ) -> None:
        """After a step ran (or failed): its outcome, on_error: warning, its hint."""
        if result.outcome == "running":
            result.outcome = "ok"
        if (
            result.status is Status.CRITICAL
            and result.outcome in ("failed", "timed_out")
            and self._on_error(step, runbook) == "warning"
        ):
            result.status = Status.WARNING
        if result.bad and result.hint is not None and templates.is_template(result.hint):
            result.hint = self._render_hint(result.hint, scope, result)

    @staticmethod
    def _render_hint(hint: str, scope: Mapping[str, Any], result: StepResult) -> str:
        """A hint may name values (`{{ inputs.runbook }}`); a hint that fails to render
        is still shown as written rather than hiding the step's real problem."""
        local = {**scope, **result.values, "result": result.values}
        try:
            return templates.render(hint, local)
        except TemplateError:
            return hint

    def _condition(
        self, expression: Any, scope: Mapping[str, Any], step: Step, result: StepResult
    ) -> bool:
        where = f"{step.origin}.when"
        if self.options.mode == "dry-run":
            try:
                return bool(templates.evaluate(expression, scope, where))
            except TemplateError:
                result.rendered = {"when": f"{expression} (depends on results; assumed true)"}
                return True
        return bool(templates.evaluate(expression, scope, where))

    def _confirm(self, step: Step, scope: Mapping[str, Any]) -> None:
        """Ask for `step`'s confirmation (confirmations.py): ConfirmationRefused unless
        it is given, and at once without a terminal."""
        confirm(step, scope, self.options, self.masker.mask_text)


def _user() -> str:
    """Who runs the run, as getpass.getuser() finds it (without importing getpass,
    which brings termios along: start-up, issue 11)."""
    for variable in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        if os.environ.get(variable):
            return os.environ[variable]
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError, OSError):  # no pwd on Windows; a uid with no entry
        return str(os.getuid()) if hasattr(os, "getuid") else "unknown"
