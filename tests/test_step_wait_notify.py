"""The wait and notify steps."""

from __future__ import annotations

from typing import Any

import pytest

from runner.base.errors import StepError, StepTimeout
from runner.language.build import build_step
from runner.language.model import Step
from runner.steps import STEP_TYPES, executor
from runner.steps.context import StepContext
from runner.steps.notify import NotifyStep
from runner.steps.wait import WaitStep


def step(action: str, config: Any, title: str = "") -> Step:
    return build_step({"id": action, action: config, "title": title}, STEP_TYPES)


class Recorder:
    """Stands in for time.sleep and the run's log: records instead of waiting or printing."""

    def __init__(self) -> None:
        self.slept: list[float] = []
        self.lines: list[str] = []

    def context(self, mode: str = "run", timeout: float = 60.0, **scope: Any) -> StepContext:
        return StepContext(
            scope=scope, timeout=timeout, mode=mode, sleep=self.slept.append, log=self.lines.append
        )


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


def test_registered_under_their_names() -> None:
    assert isinstance(executor("wait"), WaitStep)
    assert isinstance(executor("notify"), NotifyStep)


@pytest.mark.parametrize(
    ("config", "seconds"),
    [("10s", 10.0), ("1m30s", 90.0), (5, 5.0), ("250ms", 0.25)],
    ids=["10s", "1m30s", "number", "250ms"],
)
def test_wait_sleeps_the_duration(recorder: Recorder, config: Any, seconds: float) -> None:
    result = WaitStep().run(step("wait", config), recorder.context(timeout=120))
    assert result == {"waited": seconds}
    assert recorder.slept == [seconds]


def test_wait_duration_may_be_a_template(recorder: Recorder) -> None:
    ctx = recorder.context(inputs={"settle": "10s"})
    assert WaitStep().run(step("wait", "{{ inputs.settle }}"), ctx) == {"waited": 10.0}


def test_wait_never_outlasts_the_step_timeout(recorder: Recorder) -> None:
    with pytest.raises(StepTimeout) as caught:
        WaitStep().run(step("wait", "5m"), recorder.context(timeout=60))
    assert recorder.slept == [60]
    assert str(caught.value) == (
        "wait 5m is longer than the step's timeout 1m: raise timeout: or shorten the wait"
    )


def test_wait_rejects_what_is_not_a_duration(recorder: Recorder) -> None:
    with pytest.raises(StepError, match="wait: 'soon' is not a duration") as caught:
        WaitStep().run(step("wait", "soon"), recorder.context())
    assert not caught.value.transient
    assert recorder.slept == []


def test_wait_in_dry_run_only_describes(recorder: Recorder) -> None:
    wait = WaitStep()
    shown = wait.describe(step("wait", "90s"), recorder.context())
    assert shown == {"wait": "1m30s", "seconds": 90}
    assert wait.run(step("wait", "90s"), recorder.context(mode="dry-run"))["skipped"] is True
    assert recorder.slept == []


def test_notify_renders_and_logs_without_sending(recorder: Recorder) -> None:
    config = {
        "to": ["ops", "oncall"],
        "title": "{{ inputs.count }} orders stuck",
        "body": "Oldest: {{ inputs.oldest }} minutes",
    }
    ctx = recorder.context(inputs={"count": 3, "oldest": 95})
    result = NotifyStep().run(step("notify", config), ctx)
    assert result == {
        "to": ["ops", "oncall"],
        "title": "3 orders stuck",
        "body": "Oldest: 95 minutes",
        "sent": False,
        "reason": "notifications are not configured yet",
    }
    assert recorder.lines == ["notify ops, oncall: 3 orders stuck"]


def test_notify_takes_one_tag_as_a_string_and_defaults_the_title(recorder: Recorder) -> None:
    result = NotifyStep().run(step("notify", {"to": "ops"}, title="Tell ops"), recorder.context())
    assert result["to"] == ["ops"]
    assert result["title"] == "Tell ops"
    assert result["body"] == ""


def test_notify_describe_sends_and_logs_nothing(recorder: Recorder) -> None:
    shown = NotifyStep().describe(step("notify", {"to": "ops", "title": "t"}), recorder.context())
    assert shown == {"to": ["ops"], "title": "t", "body": ""}
    assert recorder.lines == []


@pytest.mark.parametrize(
    "config",
    ["ops", {"title": "no tags"}, {"to": ""}, {"to": 3}],
    ids=["string", "no-to", "empty-to", "number-to"],
)
def test_notify_without_tags_is_final(recorder: Recorder, config: Any) -> None:
    with pytest.raises(StepError, match="notify") as caught:
        NotifyStep().run(step("notify", config), recorder.context())
    assert not caught.value.transient
