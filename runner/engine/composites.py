"""The composite forms of a step, in one place: a group of nested steps, `for_each`,
`transaction`, and the calls of other runbook files (`check`, `runbook`, and the
runbook-level `on_failure`).

Each walks nested steps with the engine's own machinery (`_walk`, `_step`, `_action`),
so `Composites` is a base class of the Engine (engine/walker.py) rather than a module
the walker calls into: the walker knows single steps, this module knows nesting.
"""

from __future__ import annotations

import itertools
import time
from abc import ABC, abstractmethod
from collections import ChainMap
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from datetime import UTC, datetime
from typing import Any, cast

from runner.base.errors import StepError, TemplateError
from runner.base.status import Status, worst
from runner.base.structs import Struct, replace
from runner.databases.connections import Connections
from runner.engine import evaluate, retry
from runner.engine.items import ItemCollector, item_label
from runner.engine.lean import ItemEngine, LeanLoop
from runner.engine.options import Options
from runner.language import templates
from runner.language.inputs import resolve_inputs
from runner.language.library import Library
from runner.language.model import RetryPolicy, Runbook, Step, Threshold
from runner.language.results import RunResult, StepResult


class Services(Struct):
    """What the steps of one run share: its connections, the engine, the runbook walked."""

    connections: Connections
    engine: Composites
    runbook: Runbook


def item_steps(before: Mapping[str, Any]) -> ChainMap[str, Any]:
    """`steps.<id>` as one item of a `for_each` sees it: the steps before the loop, read
    through rather than copied (a copy per item cost each item the length of the runbook
    so far), and the item's own nested steps, written apart from the other items and the
    loop's."""
    return ChainMap({}, cast(MutableMapping[str, Any], before))


class Composites(ABC):
    """The composite forms; mixed into the Engine, whose `_walk`, `_step` and `_action`
    run the nested steps (declared below, defined in walker.py)."""

    library: Library
    options: Options

    @abstractmethod
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

    @abstractmethod
    def _step(
        self,
        step: Step,
        scope: dict[str, Any],
        services: Services,
        runbook: Runbook,
        thresholds: tuple[Threshold, ...] | None = None,
    ) -> StepResult:
        """Run one step, composite or not, into a new result."""

    @abstractmethod
    def _action(
        self,
        step: Step,
        scope: dict[str, Any],
        services: Services,
        result: StepResult,
        thresholds: tuple[Threshold, ...] | None = None,
        policy: RetryPolicy | None = None,
    ) -> None:
        """Run one single (not composite) step through its step type into `result`."""

    @abstractmethod
    def sleeper(self) -> Callable[[float], None]:
        """How steps and retries wait (ending at the run's deadline)."""

    @abstractmethod
    def _scope(self, runbook: Runbook, run: RunResult, inputs: dict[str, Any]) -> dict[str, Any]:
        """The template scope a run of `runbook` starts with."""

    def _composite(
        self,
        step: Step,
        scope: dict[str, Any],
        services: Services,
        runbook: Runbook,
        result: StepResult,
    ) -> bool:
        """Run `step` when it is a composite form; False when it is a single action."""
        if step.transaction is True:
            self._transaction(step, scope, services, runbook, result)
        elif step.for_each is not None:
            self._for_each(step, scope, services, runbook, result)
        elif step.action == "group":
            stopped = self._walk(step.steps, scope, services, result.children, runbook)
            result.status = worst(child.status for child in result.children)
            result.error = stopped
        elif step.action == "check":
            self._call_check(step, scope, services, result)
        elif step.action == "runbook":
            self._call_runbook(step, scope, services, result)
        else:
            return False
        return True

    def _for_each(
        self,
        step: Step,
        scope: dict[str, Any],
        services: Services,
        runbook: Runbook,
        result: StepResult,
    ) -> None:
        items = step.for_each
        if isinstance(items, str):
            items = templates.evaluate(items, scope, f"{step.origin}.for_each")
        if isinstance(items, Mapping):
            items = list(items.items())
        if items is None or isinstance(items, str | bytes) or not hasattr(items, "__iter__"):
            raise TemplateError(
                f"{step.origin}.for_each: expected a list, got {type(items).__name__}"
            )
        items = list(items)
        body = step.steps or (replace(step, for_each=None, transaction=False),)
        per_item = step.transaction == "per_item" and self.options.mode != "dry-run"
        # Inside a transaction a failed statement dooms it: the loop ends at the first
        # failing item (unless each item is its own savepoint) and the transaction rolls back.
        stop = step.on_item_error == "stop" or (_IN_TRANSACTION in scope and not per_item)
        steps_view = scope["steps"]
        origin = str(step.origin)
        progress, done = self.options.progress, itertools.count(1)
        if progress is not None:
            progress.items(result.title, 0, len(items))

        def one(item: Any) -> StepResult:
            item_scope = {**scope, step.as_: item, "steps": item_steps(steps_view)}
            child = StepResult(step.id, item_label(item), "item", item=item, origin=origin)
            started = time.perf_counter()
            child.started = datetime.now(UTC)
            if per_item:
                self._atomically(step, item_scope, services, child, body, runbook)
            else:
                self._walk(body, item_scope, services, child.children, runbook)
                child.status = worst(c.status for c in child.children)
            child.outcome = "ok" if not child.status.is_bad else "failed"
            child.duration = time.perf_counter() - started
            if progress is not None:  # next() on a count is atomic: worker threads share it
                progress.items(result.title, next(done), len(items))
            return child

        # OK items are folded into counts as they finish; bad ones are kept (engine/items.py).
        collected = ItemCollector(keep_all=step.record == "all" or self.options.all_items)
        parallel = step.concurrency > 1 and self.options.mode != "dry-run"
        if parallel and per_item:  # one connection cannot hold two transactions at once
            name = step.connection or scope.get("__connection__")
            parallel = not (isinstance(name, str) and services.connections.shared(name))
        if parallel and step.on_item_error != "stop" and _IN_TRANSACTION not in scope:
            from concurrent.futures import ThreadPoolExecutor  # only at concurrency > 1

            with (
                services.connections.lanes(step.concurrency) as lane,
                ThreadPoolExecutor(max_workers=step.concurrency) as pool,
            ):
                for child in pool.map(lambda item: lane(one, item), items):
                    collected.add(child)
        else:
            lean = None
            if not per_item:  # a loop of one statement: engine/lean.py
                engine = cast(ItemEngine, self)  # the Engine (walker.py) is one
                in_transaction = _IN_TRANSACTION in scope
                lean = LeanLoop.make(
                    engine,
                    step,
                    body,
                    scope,
                    services,
                    runbook,
                    collected,
                    in_transaction=in_transaction,
                )
            if lean is None:
                children: Iterator[StepResult] = map(one, items)
            else:
                finished = None
                if progress is not None:

                    def finished() -> None:
                        progress.items(result.title, next(done), len(items))

                children = lean.children(items, step.as_, finished)
            for child in children:
                collected.add(child)
                if stop and child.status.rank >= Status.UNKNOWN.rank:
                    if step.on_item_error == "stop":
                        result.error = (
                            f"stopped at item {item_label(child.item)} (on_item_error: stop)"
                        )
                    else:
                        result.error = f"stopped at item {item_label(child.item)}"
                    break
        collected.finish(result)
        result.values = {
            "items": len(items),
            "failed": collected.bad,
            "succeeded": collected.seen - collected.bad,
        }
        result.status = worst(Status(name) for name in collected.summary.counts)
        if collected.bad and not result.error:
            result.error = f"{collected.bad} of {len(items)} items failed"

    def _transaction(
        self,
        step: Step,
        scope: dict[str, Any],
        services: Services,
        runbook: Runbook,
        result: StepResult,
    ) -> None:
        """A `transaction: true` step: its nested steps (or, on a for_each, the whole
        loop) all or nothing; nested in another transaction, a savepoint."""
        if self.options.mode == "dry-run":
            if step.for_each is not None:
                self._for_each(step, scope, services, runbook, result)
            else:
                self._walk(step.steps, scope, services, result.children, runbook)
            result.status, result.outcome = Status.SKIPPED, "not_run"
            return
        body = step.steps or (replace(step, transaction=False),)
        if step.for_each is not None:
            body = (replace(step, transaction=False),)
        self._atomically(step, scope, services, result, body, runbook)
        if step.for_each is not None and len(result.children) == 1:
            loop = result.children[0]  # the loop's items are the transaction's children
            result.children, result.values = loop.children, {**loop.values, **result.values}
            result.items_summary = loop.items_summary  # and so are its counts

    def _atomically(
        self,
        step: Step,
        scope: dict[str, Any],
        services: Services,
        result: StepResult,
        body: tuple[Step, ...],
        runbook: Runbook,
    ) -> None:
        """Walk `body` into `result` in one transaction on `step`'s connection: BEGIN, or
        a savepoint inside an open transaction. The first step that ends CRITICAL or
        UNKNOWN rolls it back, unless it is a nested transaction that rolled back its own
        work and says `on_error: continue` (or `warning`). Only the outermost transaction
        is retried after a transient error: a deadlock ends the whole transaction."""
        name = step.connection or scope.get("__connection__")
        if not name:
            raise StepError(f"{step.id}: a transaction needs a connection")
        outermost = _IN_TRANSACTION not in scope
        inner = {**scope, _IN_TRANSACTION: name}

        def once() -> dict[str, Any]:
            connection = services.connections.get(name)
            connection.begin()
            children: list[StepResult] = []
            result.children = children
            try:
                for nested in body:
                    self._walk((nested,), inner, services, children, runbook)
                    child = children[-1]
                    if child.status.rank < Status.UNKNOWN.rank or _tolerated(nested, child):
                        continue
                    error_type = _TransientInTransaction if _was_transient(child) else StepError
                    raise error_type(f"{nested.id}: {child.error or 'ended CRITICAL'}; rolled back")
            except BaseException as error:
                try:
                    connection.rollback()
                except Exception:  # a broken connection: it is dropped below
                    if not outermost:
                        raise error from None
                if outermost and isinstance(error, StepError) and error.transient:
                    services.connections.reset(name)
                raise
            connection.commit()
            return {"statements": len(children)}

        policy = step.retry if outermost else _ONCE
        values, attempts, error = retry.attempt(once, policy, sleep=self.sleeper())
        result.attempts = attempts
        result.values = values or {}
        if error is not None:
            result.status, result.outcome = Status.CRITICAL, error.outcome
            result.error = str(error) + (
                f" (after {len(attempts)} attempts)" if len(attempts) > 1 else ""
            )
        else:
            result.status = worst(c.status for c in result.children)

    def _call_check(
        self, step: Step, scope: dict[str, Any], services: Services, result: StepResult
    ) -> None:
        check = self.library.check(step.config.name)
        arguments = templates.render_value(dict(step.config.with_), scope, f"{step.origin}.with")
        inputs = resolve_inputs(check.inputs, arguments, f"check {check.name}")
        overrides = {t.name: t for t in step.thresholds}
        local = {
            **scope,
            "inputs": inputs,
            "steps": {},
            "vars": scope["vars"],
            "check": {"name": check.name, "title": check.title},
            "__connection__": step.connection or scope.get("__connection__"),
        }
        if check.vars:  # rendered like a runbook's (walker.py), with the check's inputs
            own = templates.render_vars(check.vars, check.var_keys, check.path, local)
            local["vars"] = {**scope["vars"], **own}
        for nested in check.steps:
            mine = tuple(overrides.pop(t.name, t) for t in nested.thresholds)
            child = self._step(
                nested,
                local,
                services,
                services.runbook,
                thresholds=mine if overrides or mine else None,
            )
            result.children.append(child)
            local["steps"][nested.id] = child.template_view()
        if check.title and not step.title:
            result.title = templates.render_value(check.title, local, str(step.origin))
        result.steps_view = local["steps"]
        result.status = worst(c.status for c in result.children)
        result.hint = step.hint or next((c.hint for c in result.children if c.bad and c.hint), None)

    def _call_runbook(
        self, step: Step, scope: dict[str, Any], services: Services, result: StepResult
    ) -> None:
        runbook = self.library.runbook(step.config.name)
        arguments = templates.render_value(dict(step.config.with_), scope, f"{step.origin}.with")
        inputs = resolve_inputs(runbook.inputs, arguments, runbook.name)
        nested = RunResult(
            run_id=scope["run"]["id"],
            runbook=runbook.name,
            mode=self.options.mode,
            started=datetime.now(UTC),
        )
        self._execute_nested(runbook, nested, inputs, services)
        result.children = nested.steps
        result.values = {"status": nested.status.value, "runbook": runbook.name}
        # Later steps read the called runbook's results as a check's (steps.<id>.steps.
        # <its step>.ok, .severity, its values): a view for the run, not a copy recorded
        # at each level of nesting (the children are recorded themselves, their rows cut).
        result.steps_view = {child.id: child.template_view() for child in nested.steps}
        if not step.asserts or self.options.mode == "dry-run":  # dry-run: nothing to judge
            result.status = nested.status
            result.error = nested.error
            return
        # As with the other steps' own verdicts (a command's exit code, a closed port),
        # asserts judge the call: the called runbook's status is then a value, such as
        # `status in ('OK', 'WARNING')`; its steps keep their own statuses as children.
        judged = {**result.values, "steps": result.steps_view}  # `steps.up.ok` in an assert
        result.evaluations = evaluate.evaluate_step(step, judged, scope, thresholds=())
        result.status = worst(e.status for e in result.evaluations)
        if result.bad and nested.error:
            result.error = nested.error

    def _execute_nested(
        self, runbook: Runbook, run: RunResult, inputs: dict[str, Any], services: Services
    ) -> None:
        scope = self._scope(runbook, run, inputs)

        nested_services = Services(services.connections, self, runbook)
        stopped = self._walk(runbook.steps, scope, nested_services, run.steps, runbook)
        run.status = worst(s.status for s in run.steps)
        if run.status is Status.CRITICAL and (runbook.on_failure or runbook.on_failure_runbook):
            self._on_failure(runbook, scope, nested_services, run)
        if runbook.finally_:
            self._walk(runbook.finally_, scope, nested_services, run.steps, runbook)
        run.status = worst(s.status for s in run.steps)
        run.error = stopped

    def _on_failure(
        self, runbook: Runbook, scope: dict[str, Any], services: Services, run: RunResult
    ) -> None:
        if runbook.on_failure:
            handled: list[StepResult] = []
            self._walk(runbook.on_failure, scope, services, handled, runbook)
            run.steps.append(
                StepResult(
                    "on_failure",
                    "on_failure",
                    "group",
                    worst(s.status for s in handled),
                    children=handled,
                )
            )
        elif runbook.on_failure_runbook:
            call = runbook.on_failure_runbook
            target = self.library.runbook(call.name or "")
            arguments = templates.render_value(dict(call.with_), scope, "on_failure")
            nested = RunResult(
                run_id=run.run_id,
                runbook=target.name,
                mode=self.options.mode,
                started=datetime.now(UTC),
            )
            self._execute_nested(
                target, nested, resolve_inputs(target.inputs, arguments, target.name), services
            )
            run.steps.append(
                StepResult(
                    "on_failure",
                    f"on_failure: {target.name}",
                    "runbook",
                    nested.status,
                    children=nested.steps,
                    error=nested.error,
                )
            )


#: In a scope, the connection of the transaction its steps run in (walker.py runs their
#: statements once: a transaction is retried as a whole).
_IN_TRANSACTION = "__transaction__"
_ONCE = RetryPolicy(attempts=1)


def _tolerated(nested: Step, child: StepResult) -> bool:
    """A nested transaction that failed, rolled back to its savepoint, and whose step
    says the outer transaction goes on (`on_error: continue`; `warning` makes it WARNING)."""
    return bool(nested.transaction) and nested.on_error in ("continue", "warning")


class _TransientInTransaction(StepError):
    """A statement in a transaction hit a deadlock or lost its connection: retry the group."""

    transient = True


def _was_transient(child: StepResult) -> bool:
    return bool(child.attempts) and child.attempts[-1].transient
