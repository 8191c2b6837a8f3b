"""How a run lock waits its turn and says who holds it: polling through tenacity with a
clock and a sleep that tests swap for a fake pair, and the holder in words."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from runner.base.timestamps import timestamp_text

if TYPE_CHECKING:
    from tenacity import RetryCallState

MODES = ("skip", "wait", "allow")
# Polling while waiting with a timeout (flock itself cannot time out): the first pause,
# doubled after each try up to the longest.
FIRST_POLL = 0.05
LONGEST_POLL = 1.0
# Reading who holds a lock allows the holder the moment between taking it and writing it.
DETAILS_TRIES = 10
DETAILS_PAUSE = FIRST_POLL / 5
Sleep = Callable[[float], None]
Clock = Callable[[], float]
T = TypeVar("T")


def poll(attempt: Callable[[], bool], timeout: float | None, sleep: Sleep, clock: Clock) -> bool:
    """Whether `attempt` returned True before `timeout` seconds (None: no limit) passed on
    `clock`. It is tried again after FIRST_POLL seconds, then twice as long each time up
    to LONGEST_POLL, the last pause cut short to try once more at the deadline."""
    from tenacity import Retrying, retry_if_result, stop_never, wait_exponential

    backoff = wait_exponential(multiplier=FIRST_POLL, max=LONGEST_POLL)
    if timeout is None:
        stop: Any = stop_never
        wait: Any = backoff
    else:
        deadline = clock() + max(timeout, 0.0)

        def stop(state: Any) -> bool:
            return clock() >= deadline

        def wait(state: Any) -> float:
            return min(backoff(state), deadline - clock())

    retrying = Retrying(
        stop=stop,
        wait=wait,
        retry=retry_if_result(lambda got: not got),
        sleep=sleep,
        retry_error_callback=lambda state: False,
    )
    return bool(retrying(attempt))


def soon(read: Callable[[], T], ready: Callable[[T], bool], sleep: Sleep) -> T:
    """What `read` returns once `ready` holds for it, or its last answer after
    DETAILS_TRIES reads DETAILS_PAUSE apart."""
    from tenacity import Retrying, retry_if_result, stop_after_attempt, wait_fixed

    retrying = Retrying(
        stop=stop_after_attempt(DETAILS_TRIES),
        wait=wait_fixed(DETAILS_PAUSE),
        retry=retry_if_result(lambda found: not ready(found)),
        sleep=sleep,
        retry_error_callback=_last_answer,
    )
    return retrying(read)


def _last_answer(state: RetryCallState) -> Any:
    """When the tries run out, the last read's answer (not tenacity's RetryError)."""
    assert state.outcome is not None  # called after an attempt, which has an outcome
    return state.outcome.result()


def describe_holder(details: dict[str, object]) -> str:
    # Empty between another process's flock and its write: still held, details unknown.
    if not details.get("pid"):
        return "another process"
    text = f"pid {details['pid']}"
    if details.get("host"):
        text += f" on {details['host']}"
    if details.get("run_id"):
        text += f", run {details['run_id']}"
    if details.get("since"):
        text += f", since {timestamp_text(details['since'])}"  # the outputs' one format
    return text
