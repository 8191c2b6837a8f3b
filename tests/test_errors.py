"""One exception tree: every error the runner raises on purpose is a RunbookError that
presents itself (exit code, message); the command line catches it once."""

from __future__ import annotations

import pytest

from runner.base.errors import (
    EXIT_UNKNOWN,
    Aborted,
    ConfigError,
    ConfirmationRefused,
    InputError,
    InvalidInput,
    LockLost,
    NotFound,
    Problem,
    RunbookError,
    StepError,
    StepTimeout,
    TemplateError,
    TransientError,
)
from runner.base.status import Status
from runner.cli import main
from runner.engine.retry import UntilNotMet
from runner.history.locks import RunbookBusy


@pytest.mark.parametrize(
    "error",
    [
        InvalidInput([Problem("bad", "x.yaml", 1)]),
        ConfigError("bad"),
        InputError("bad"),
        TemplateError("bad"),
        NotFound("bad"),
        ConfirmationRefused("bad"),
        RunbookBusy("order-health", None),
        StepError("bad"),
        TransientError("bad"),
        StepTimeout("bad"),
        UntilNotMet("bad"),
    ],
    ids=lambda error: type(error).__name__,
)
def test_every_error_is_a_runbook_error_that_presents_itself(error: RunbookError) -> None:
    assert isinstance(error, RunbookError)
    assert error.exit_code == EXIT_UNKNOWN
    assert error.format_message()


def test_interruptions_stay_outside_exception_but_present_themselves() -> None:
    for error in (Aborted(), LockLost("order-health lost its cross-host lock")):
        assert not isinstance(error, Exception)  # `except Exception` must not swallow it
        assert error.exit_code == EXIT_UNKNOWN
    assert Aborted().format_message() == "interrupted"
    assert LockLost("lost it").format_message() == "lost it"


def test_the_command_line_prints_a_runbook_error_and_exits_with_its_code(project, capsys) -> None:
    assert main(["show", "nosuch"]) == EXIT_UNKNOWN
    assert capsys.readouterr().err == "runbook: no runbook named 'nosuch' in runbooks\n"


# No real command lets these through (the engine takes a StepError and SIGTERM while
# running), so a command that raises them stands in to test the one catch.
@pytest.mark.parametrize(
    ("error", "printed"),
    [
        (StepError("http needs a url"), "runbook: http needs a url\n"),
        (Aborted(), "runbook: interrupted\n"),
        (LockLost("t lost its cross-host lock"), "runbook: t lost its cross-host lock\n"),
        (KeyboardInterrupt(), "runbook: interrupted\n"),
    ],
    ids=["step-error", "sigterm", "lock-lost", "ctrl-c"],
)
def test_the_command_line_catches_once_prints_and_exits(
    error: BaseException, printed: str, monkeypatch, capsys
) -> None:
    from runner.cli.commands import COMMANDS

    def fail(args):
        raise error

    monkeypatch.setitem(COMMANDS, "list", fail)
    assert main(["list"]) == EXIT_UNKNOWN
    assert capsys.readouterr().err == printed


def test_a_step_error_outside_the_retry_loop_is_critical_like_inside(project) -> None:
    project.runbook(
        "t",
        """
        runbook: t
        steps:
          - id: api
            http: {url: "{{ '' }}"}
        """,
    )
    for mode in ("run", "dry-run"):  # dry-run fails describing it, a run attempting it
        step = project.run("t", mode=mode).steps[0]
        assert (step.status, step.outcome) == (Status.CRITICAL, "failed"), mode
        assert step.error == "http needs a url, such as url: https://shop.example.com/health"
