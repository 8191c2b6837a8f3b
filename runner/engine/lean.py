"""The lean item path of a `for_each` whose body is the step itself: one statement per
item, as in 10,000 UPDATEs in one transaction (bench/batch.py).

The general path (composites.py `_for_each` → walker.py `_walk` → `_step` → `_action`)
builds for every item a step context, a retry attempt, two results and a template view,
about fifteen times the statement's own cost on SQLite. Here the step is made ready once
(`StepType.prepare`: its connection, dialect and text) and run for each item's scope; an
item that ends OK where the collector would fold it anyway (engine/items.py: an OK item
after the first KEEP_SMALL, unless `record: all`) is only counted. Every item that is
kept (the first ones, every bad one, all of them under `record: all`) gets the result
the general path builds, made by the same code (`_failed`, `_judge`, `_conclude` of
walker.py) from the same outcome: the statement is never run twice.

Taken only where the general path would do nothing more per item than that, else the
loop runs as before (`LeanLoop.make` returns None):

- a real run (not --dry-run, whose items are described, or --rehearse, whose results
  show the statement), one item at a time (not `concurrency:` > 1), not
  `transaction: per_item` (each item its own transaction);
- a body of one step (the loop's own statement, or one nested step) that is not a
  group, loop or transaction, with no `when`, `confirm` or `until`;
- one attempt: inside a transaction (retried as a whole), or `retry.attempts` <= 1;
- a step type that can make its step ready (`prepare`; the sql step), and can do so
  for this step: a missing connection, say, is left to the general path to report.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from runner.base.errors import RunbookError, StepError
from runner.base.masking import Masker
from runner.base.status import Status
from runner.base.structs import replace
from runner.engine.deadline import Deadline
from runner.engine.items import ItemCollector, item_label
from runner.engine.options import Options
from runner.engine.sent import record_statement
from runner.language.model import Runbook, Step, Threshold
from runner.language.results import Attempt, StepResult
from runner.steps import StepType, executor
from runner.steps.base import Repeated
from runner.steps.context import StepContext

__all__ = ["LeanLoop"]


class ItemEngine(Protocol):
    """What the lean path uses of the engine (walker.py)."""

    options: Options
    step_types: Any
    deadline: Deadline | None
    verify_lock: Callable[[str], None]
    masker: Masker

    def title(self, text: str, scope: Mapping[str, Any]) -> str: ...

    def _context(self, step: Step, scope: Mapping[str, Any], services: Any) -> StepContext: ...

    def _failed(self, result: StepResult, error: RunbookError) -> None: ...

    def _judge(
        self,
        step: Step,
        runner: StepType,
        result: StepResult,
        values: dict[str, Any] | None,
        failure: StepError | None,
        scope: Mapping[str, Any],
        thresholds: tuple[Threshold, ...] | None = None,
    ) -> None: ...

    def _conclude(
        self, step: Step, runbook: Runbook, result: StepResult, scope: Mapping[str, Any]
    ) -> None: ...


class LeanLoop:
    """Runs the items of one `for_each` the lean way; see the module's docstring."""

    def __init__(
        self,
        engine: ItemEngine,
        loop: Step,
        body: Step,
        runner: StepType,
        statement: Repeated,
        scope: dict[str, Any],
        runbook: Runbook,
        collected: ItemCollector,
        context: StepContext,
    ) -> None:
        self.engine = engine
        self.context = context  # the loop's; an item's statement is rendered in its scope
        self.loop_id, self.loop_origin = loop.id, str(loop.origin)
        self.body = body
        self.runner = runner
        self.statement = statement
        self.scope = scope
        self.runbook = runbook
        self.collected = collected
        self.origin = str(body.origin)
        self.wall, self.perf = time.time(), time.perf_counter()
        # Whether an item's values may make it other than OK (else an OK one is counted)
        self.judged = bool(
            body.thresholds or body.asserts or type(runner).verdict is not StepType.verdict
        )

    @classmethod
    def make(
        cls,
        engine: ItemEngine,
        loop: Step,
        body: tuple[Step, ...],
        scope: dict[str, Any],
        services: Any,
        runbook: Runbook,
        collected: ItemCollector,
        *,
        in_transaction: bool,
    ) -> LeanLoop | None:
        """The lean loop for the `for_each` step `loop` running `body` (its one nested
        step, or itself without for_each) one item at a time, each item not its own
        transaction; None when the general path must run it."""
        if engine.options.mode != "run" or len(body) != 1 or loop.as_ == "steps":
            return None
        step = body[0]
        if step.steps or step.for_each is not None or step.transaction:
            return None  # a group, a nested loop or transaction
        if step.when is not None or step.confirm or step.until is not None:
            return None
        if not in_transaction and step.retry.attempts > 1:
            return None
        try:
            runner = executor(step.action, engine.step_types)
        except KeyError:  # check and runbook calls: the engine's own
            return None
        context = engine._context(step, scope, services)
        try:
            statement = runner.prepare(step, context)
        except RunbookError:
            return None  # the general path says what is wrong, for each item
        if statement is None:
            return None
        return cls(engine, loop, step, runner, statement, scope, runbook, collected, context)

    def children(
        self, items: Iterable[Any], name: str, done: Callable[[], None] | None
    ) -> Iterator[StepResult]:
        """Run the body for each of `items` in turn (the loop's `as:` is `name`), calling
        `done` after each: the results of the items to keep, in order. The items that
        end OK where the collector folds them are only counted, and handed to it as a
        number before the next item kept, and at the end. Once OK items are folded, a
        plain body (nothing judges its values) is handed the items that follow as one
        batch (`Repeated.many`: SQLite's executemany) until an item fails (it is kept,
        and the next OK one starts another batch) or the batch stops at an item it
        cannot run, which runs on its own, as do the rest."""
        engine, body, collected = self.engine, self.body, self.collected
        verify_lock, deadline = engine.verify_lock, engine.deadline
        progress = engine.options.progress
        timeout = body.timeout
        # The item's scope, as {**scope, name: item} ("steps" the loop's own): one dict
        # whose item is set in turn, since nothing keeps it past its item (the statement
        # renders from it, a kept item's result is made from it before the next item)
        scope = self.scope.copy()
        plain, folding, folded = not self.judged, False, 0
        batching = plain  # hand the items to the step as a batch once OK ones are folded
        clock = time.perf_counter
        rest = iter(items)  # a batch takes from it too
        try:
            for item in rest:
                verify_lock(body.id)  # what _walk does before each step
                if deadline is not None:
                    deadline.check()
                scope[name] = item
                if progress is not None:
                    progress.step(engine.title(body.label, scope))
                if plain and not folding:
                    folding = collected.folds_ok()
                child = self._run(item, scope, clock(), timeout, folding)
                if child is None:  # OK, folded: counted
                    folded += 1
                    if done is not None:
                        done()
                    if not batching:
                        continue
                    batching, count, child = self._batch(rest, name, scope, done)
                    folded += count
                    if child is None:
                        continue
                if folded:
                    collected.add_ok(folded)
                    folded = 0
                if done is not None:
                    done()
                yield child
        finally:
            if folded:
                collected.add_ok(folded)

    def _batch(
        self,
        items: Iterator[Any],
        name: str,
        scope: dict[str, Any],
        done: Callable[[], None] | None,
    ) -> tuple[bool, int, StepResult | None]:
        """The items that follow, as one batch of the step's (they are folded if OK):
        whether to batch again after it, how many ended OK and were counted (`done`
        called for each), and the result of the item it stopped at when that one is
        kept (None when the items ran out, or the item ended OK)."""
        feed = _Feed(self, items, name, scope, done)
        again = True
        try:
            if self.statement.many(feed.scopes()):
                return True, feed.count, None
            again = False  # it stopped at an item it cannot run: not the way for this loop
        except StepError as failure:
            if feed.item is _NONE:  # not an item's: the batch's own
                raise
            deadline = self.engine.deadline
            if deadline is not None:
                deadline.check()  # timed out at the deadline: the run stops (Aborted)
            return (
                True,
                feed.count,
                self._item(feed.item, scope, feed.started, failure.result, failure),
            )
        except RunbookError as error:  # a template's, say
            if feed.item is _NONE:
                raise
            return True, feed.count, self._item(feed.item, scope, feed.started, None, None, error)
        if feed.item is _NONE:  # nothing was taken
            return again, feed.count, None
        child = self._run(feed.item, scope, feed.started, self.body.timeout, True)
        if child is None:
            if done is not None:
                done()
            return again, feed.count + 1, None
        return again, feed.count, child

    def _run(
        self, item: Any, scope: dict[str, Any], started: float, timeout: float, folding: bool
    ) -> StepResult | None:
        """Run the body for `item` (set in `scope`): the item's result, or None when it
        ended OK with nothing to judge and `folding` (the collector folds it)."""
        deadline = self.engine.deadline
        try:
            limit = timeout if deadline is None else deadline.cap(timeout)
            values = self.statement(scope, limit)
        except StepError as failure:
            if deadline is not None:
                deadline.check()  # timed out at the deadline: the run stops (Aborted)
            return self._item(item, scope, started, failure.result, failure)
        except RunbookError as error:  # not an attempt's failure: a template's, say
            return self._item(item, scope, started, None, None, error)
        if folding and not self.judged and not values.get("skipped"):
            return None
        return self._item(item, scope, started, values, None)

    def _item(
        self,
        item: Any,
        scope: dict[str, Any],
        started: float,
        values: dict[str, Any] | None,
        failure: StepError | None,
        error: RunbookError | None = None,
    ) -> StepResult:
        """The item's result as the general path builds it, from the statement's outcome:
        its `values` (None: none), the attempt's `failure`, or an `error` raised before
        any attempt was made."""
        engine, body = self.engine, self.body
        # The wall clock when the item started, from the loop's one reading of it
        when = datetime.fromtimestamp(self.wall + (started - self.perf), UTC)
        label = item_label(item)
        child = StepResult(self.loop_id, label, "item", item=item, origin=self.loop_origin)
        child.started = when
        title = engine.title(body.label, scope)
        result = StepResult(body.id, title, body.action, origin=self.origin, hint=body.hint)
        result.started = when
        result.outcome = "running"
        if error is not None:
            engine._failed(result, error)
        else:
            duration = time.perf_counter() - started
            if failure is None:
                attempt = Attempt(1, when, duration, "ok")
            else:
                outcome, text = failure.outcome, str(failure)
                attempt = Attempt(1, when, duration, outcome, text, failure.transient)
            result.attempts = [attempt]
            result.values = values or {}
            try:
                engine._judge(body, self.runner, result, values, failure, scope)
            except RunbookError as judging:  # a threshold's template, say
                engine._failed(result, judging)
            if result.status.is_bad or not self.collected.folds_ok():  # it will be kept
                ctx = replace(self.context, scope=scope)
                record_statement(self.runner, body, ctx, result, engine.masker)
        result.duration = time.perf_counter() - started
        engine._conclude(body, self.runbook, result, scope)
        child.children = [result]
        child.status = result.status if result.status is not Status.SKIPPED else Status.OK
        child.outcome = "ok" if not child.status.is_bad else "failed"
        child.duration = time.perf_counter() - started
        return child


_NONE = object()  # no item taken


class _Feed:
    """The items of a loop handed to its step as one batch (`Repeated.many`): for each,
    what the lean loop does before an item runs, then its scope and timeout. `item` is
    the item taken and not yet done (_NONE: none), `count` the items done (each one
    ended OK: the batch takes the next only after the last one ran)."""

    def __init__(
        self,
        loop: LeanLoop,
        items: Iterator[Any],
        name: str,
        scope: dict[str, Any],
        done: Callable[[], None] | None,
    ) -> None:
        self.loop, self.items, self.name, self.scope, self.done = loop, items, name, scope, done
        self.item: Any = _NONE
        self.started = 0.0
        self.count = 0

    def scopes(self) -> Iterator[tuple[Mapping[str, Any], float]]:
        loop, scope, name, done = self.loop, self.scope, self.name, self.done
        engine, body = loop.engine, loop.body
        verify_lock, deadline = engine.verify_lock, engine.deadline
        progress, timeout, clock = engine.options.progress, body.timeout, time.perf_counter
        for item in self.items:
            verify_lock(body.id)
            if deadline is not None:
                deadline.check()
            scope[name] = item
            if progress is not None:
                progress.step(engine.title(body.label, scope))
            self.item, self.started = item, clock()
            yield scope, timeout if deadline is None else deadline.cap(timeout)
            self.item = _NONE
            self.count += 1
            if done is not None:
                done()
