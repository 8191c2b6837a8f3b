"""One action step, attempted under its retry policy (tenacity) and `until` condition.

Only transient failures are retried (base.errors.TransientError: connection trouble,
timeouts, deadlocks, HTTP 429/502/503/504); `until` polls with the same policy.
Every attempt is recorded. Sleep is injected so tests never wait for real.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from runner.base.errors import StepError
from runner.language.model import RetryPolicy
from runner.language.results import Attempt


class UntilNotMet(StepError):
    outcome = "failed"


def _wait(policy: RetryPolicy) -> Any:
    from tenacity import wait_exponential, wait_fixed

    if policy.backoff == "fixed":
        return wait_fixed(policy.delay)
    return wait_exponential(multiplier=policy.delay, min=policy.delay, max=policy.max_delay)


def attempt(
    action: Callable[[], dict[str, Any]],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], None] = time.sleep,
    until: Callable[[dict[str, Any]], bool] | None = None,
    on_transient: Callable[[StepError], None] | None = None,
) -> tuple[dict[str, Any] | None, list[Attempt], StepError | None]:
    """Run `action` until it succeeds (and `until` holds) or the policy gives up.

    Returns (values of the last successful attempt or None, attempts, final error or None).

    The first attempt runs without tenacity: most succeed, and then nothing of the retry
    machinery is imported. When it must be retried, tenacity is handed its outcome as its
    own first attempt, so waits and stops count exactly as if tenacity had made it.
    """
    attempts: list[Attempt] = []

    def one() -> dict[str, Any] | None:
        started = datetime.now(UTC)
        clock = time.perf_counter()
        try:
            values = action()
        except StepError as error:
            attempts.append(
                Attempt(
                    len(attempts) + 1,
                    started,
                    time.perf_counter() - clock,
                    error.outcome,
                    str(error),
                    error.transient,
                )
            )
            if error.transient and on_transient:
                on_transient(error)
            raise
        ok = until is None or until(values)
        attempts.append(
            Attempt(
                len(attempts) + 1,
                started,
                time.perf_counter() - clock,
                "ok" if ok else "not_yet",
                None if ok else "until condition not met",
            )
        )
        return values if ok else {"__not_yet__": values}

    try:
        first = one()
    except StepError as error:
        if policy.attempts <= 1 or not error.transient:
            return error.result, attempts, error
        return _retried(error, one, policy, attempts, sleep)
    if not (isinstance(first, dict) and "__not_yet__" in first):
        return first, attempts, None
    if policy.attempts <= 1:
        return first["__not_yet__"], attempts, _until_not_met(attempts)
    return _retried(first, one, policy, attempts, sleep)


def _until_not_met(attempts: list[Attempt]) -> UntilNotMet:
    return UntilNotMet(f"until condition still false after {len(attempts)} attempts")


def _retried(
    first: dict[str, Any] | None | StepError,
    one: Callable[[], dict[str, Any] | None],
    policy: RetryPolicy,
    attempts: list[Attempt],
    sleep: Callable[[float], None],
) -> tuple[dict[str, Any] | None, list[Attempt], StepError | None]:
    """Attempts 2 and later, under tenacity, which takes `first` as its attempt 1."""
    from tenacity import (
        RetryError,
        Retrying,
        retry_if_exception,
        retry_if_result,
        stop_after_attempt,
    )

    replay = [first]

    def next_attempt() -> dict[str, Any] | None:
        if replay:  # attempt 1, already made
            outcome = replay.pop()
            if isinstance(outcome, StepError):
                raise outcome
            return outcome
        return one()

    def transient(error: BaseException) -> bool:
        return isinstance(error, StepError) and error.transient

    retrying = Retrying(
        stop=stop_after_attempt(max(1, policy.attempts)),
        wait=_wait(policy),
        retry=retry_if_exception(transient)
        | retry_if_result(lambda v: isinstance(v, dict) and "__not_yet__" in v),
        sleep=sleep,
        reraise=True,
    )
    try:
        values = retrying(next_attempt)
    except StepError as error:
        return error.result, attempts, error
    except RetryError as error:  # `until` never held
        last = error.last_attempt.result()
        return (
            last.get("__not_yet__") if isinstance(last, dict) else None,
            attempts,
            _until_not_met(attempts),
        )
    if isinstance(values, dict) and "__not_yet__" in values:
        return (
            values["__not_yet__"],
            attempts,
            _until_not_met(attempts),
        )
    return values, attempts, None
