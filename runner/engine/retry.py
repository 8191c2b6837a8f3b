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
    """
    from tenacity import (
        RetryError,
        Retrying,
        retry_if_exception,
        retry_if_result,
        stop_after_attempt,
    )

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

    if policy.attempts <= 1 and until is None:  # the common case needs no retry machinery
        try:
            return one(), attempts, None
        except StepError as error:
            return error.result, attempts, error

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
        values = retrying(one)
    except StepError as error:
        return error.result, attempts, error
    except RetryError as error:  # `until` never held
        last = error.last_attempt.result()
        return (
            last.get("__not_yet__") if isinstance(last, dict) else None,
            attempts,
            UntilNotMet(f"until condition still false after {len(attempts)} attempts"),
        )
    if isinstance(values, dict) and "__not_yet__" in values:
        return (
            values["__not_yet__"],
            attempts,
            UntilNotMet(f"until condition still false after {len(attempts)} attempts"),
        )
    return values, attempts, None
