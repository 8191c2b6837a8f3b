"""Errors that present themselves: each carries its exit code and a readable message.

Every error the runner raises on purpose is a RunbookError:

    RunbookError                 exit 3 (UNKNOWN): the runbook could not be evaluated
      InvalidInput               every problem of a runbook, check or runner.yaml
      ConfigError, InputError, TemplateError, NotFound, ConfirmationRefused
      RunbookBusy                (history.locks) another process runs this runbook
      StepError                  one step failed; the engine makes it CRITICAL
        TransientError           worth another attempt (retried by the retry policy)
          StepTimeout

and two interruptions stand beside the tree, as BaseException: Aborted (SIGTERM) and
LockLost. Library callers get the exception; the command line has the one top-level
catch that prints `format_message()` and exits with `exit_code`.
"""

# No `from __future__ import annotations` here: typing.NamedTuple compiles each string
# annotation into a ForwardRef, 11 M instructions for Problem's seven, and every command
# (`runbook --help` too) imports this module (issue 11, point 1).
from typing import Any, NamedTuple

#: Exit code for "the runbook itself could not be evaluated" (Nagios UNKNOWN).
EXIT_UNKNOWN = 3
MAX_LISTED_PROBLEMS = 50


class Problem(NamedTuple):
    """One thing wrong with an input, pointing at where it is. A NamedTuple: cheap to
    define, and `import runner` (so `runbook --help`) defines it."""

    message: str
    file: str | None = None
    line: int | None = None  # 1-based
    col: int | None = None  # 1-based
    key: str | None = None  # key path such as steps[2].thresholds.pending_count
    hint: str | None = None
    severity: str = "error"  # error | warning

    def location(self) -> str:
        parts = [self.file or "<input>"]
        if self.line is not None:
            parts.append(str(self.line))
            if self.col is not None:
                parts.append(str(self.col))
        return ":".join(parts)

    def format(self) -> str:
        text = f"{self.location()}: {self.severity}: "
        if self.key:
            text += f"{self.key}: "
        text += self.message
        if self.hint:
            text += f" ({self.hint})"
        return text

    def as_dict(self) -> dict[str, str | int | None]:
        return {
            "file": self.file,
            "line": self.line,
            "col": self.col,
            "key": self.key,
            "message": self.message,
            "hint": self.hint,
            "severity": self.severity,
        }


class RunbookError(Exception):
    """Base of every error the runner raises on purpose and reports to a person.

    `exit_code` is what the command line exits with when the error reaches it (UNKNOWN:
    nothing could be evaluated); `format_message()` is the text it prints.
    """

    exit_code = EXIT_UNKNOWN

    def format_message(self) -> str:
        return str(self)


class InvalidInput(RunbookError):
    """A runbook, check or runner.yaml that cannot be used, with every problem found."""

    def __init__(self, problems: list[Problem]):
        self.problems = sorted(
            problems, key=lambda p: (p.file or "", p.line or 0, p.col or 0, p.message)
        )
        super().__init__(self.format_message())

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    def format_message(self) -> str:
        lines = [p.format() for p in self.problems[:MAX_LISTED_PROBLEMS]]
        extra = len(self.problems) - MAX_LISTED_PROBLEMS
        if extra > 0:
            lines.append(f"... and {extra} more")
        return "\n".join(lines)


class ConfigError(RunbookError):
    """runner.yaml or the environment it names is unusable."""


class InputError(RunbookError):
    """A --param that is unknown, missing or of the wrong type."""


class TemplateError(RunbookError):
    """A Jinja template or expression that cannot be rendered."""


class NotFound(RunbookError):
    """A runbook or check asked for by name that does not exist."""


class ConfirmationRefused(RunbookError):
    """A step needs confirmation and none was given."""


class StepError(RunbookError):
    """The step failed. `transient` failures are retried by the step's retry policy.

    The engine turns it into the step's result: CRITICAL, with `outcome` (failed,
    timed_out) and the message as the step's error. It reaches the command line only
    when no run was there to take it, and then exits UNKNOWN like any RunbookError.
    """

    outcome = "failed"
    transient = False
    #: What the step produced before it failed (a command's output so far, the HTTP
    #: answer that was not good enough), kept as the step's values; None: nothing.
    result: dict[str, Any] | None = None


class TransientError(StepError):
    """Connection refused or reset, deadlock, HTTP 429/502/503/504: worth another attempt."""

    transient = True


class StepTimeout(TransientError):
    outcome = "timed_out"


class Aborted(BaseException):
    """The run was told to stop: SIGTERM, or its abort signal set by the program that runs
    it. `by` says who stopped it ("aborted by SIGTERM").

    A BaseException on purpose, like KeyboardInterrupt (Ctrl-C), and so outside the
    RunbookError tree: the many `except Exception` that keep one failing notifier,
    template or connection from losing a run must not swallow a request to stop. Only
    the engine (which rolls back and records the run as aborted) and the command line
    catch it. It presents itself like a RunbookError all the same.
    """

    exit_code = EXIT_UNKNOWN

    def __init__(self, by: str = "SIGTERM") -> None:
        super().__init__(by)
        self.by = by or "SIGTERM"

    def format_message(self) -> str:
        return "interrupted"


class LockLost(Aborted):
    """The cross-host run lock went with its connection and another process holds it
    now (or it cannot be asked): the run stops before its next step, as if aborted, so
    that two runs never overlap. An Aborted for the same reason: nothing may catch it
    on the way out but the engine."""

    def __init__(self, message: str) -> None:
        BaseException.__init__(self, message)
        self.by = "a lost lock"

    def format_message(self) -> str:
        return str(self)
