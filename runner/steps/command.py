"""The `command` step: run one program, for what SQL and HTTP cannot do.

An argv list runs without a shell, so rendered values stay single arguments whatever
they contain. A string runs through /bin/sh only when the step says `shell: true`;
values that come from inputs are then safest passed through `env:` and quoted in the
script ("$NAME"), because a template rendered into shell text is shell text.

The program starts in its own process group so that a timeout kills everything it
started, not just the first process.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from io import BufferedReader
from typing import TYPE_CHECKING, Any

from runner.base.durations import format_duration
from runner.base.errors import StepError, StepTimeout
from runner.base.masking import mask_env
from runner.base.status import Status
from runner.language.model import Origin
from runner.language.nodes import freeze
from runner.language.steptypes import BuildScope, StepConfig
from runner.steps.base import StepType

if TYPE_CHECKING:
    import subprocess

    from runner.language.model import Step
    from runner.language.nodes import Node
    from runner.steps.context import StepContext

#: stdout and stderr each keep this much; the rest is read and dropped.
MAX_OUTPUT = 1024 * 1024
#: After a kill, how long to wait for the pipes to close before giving up on them.
_KILL_GRACE = 5.0
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class CommandConfig(StepConfig):
    """A program to start, as written (templates unrendered, read-only)."""

    command: Any  # an argv tuple, or a script string for `shell: true`
    origin: Origin
    shell: Any = False
    env: Any = None  # a read-only mapping of variable names to templates
    cwd: Any = None


class CommandStep(StepType):
    name = "command"
    keys = ("shell", "env", "cwd")
    template_keys = ("command", "env", "cwd")
    schema = {
        "command": {
            "type": ["array", "string"],
            "items": {"type": "string"},
            "minItems": 1,
            "minLength": 1,
            "description": "A program to run: an argv list such as [pg_dump, --version] (no "
            "shell), or a string run by the shell when `shell: true`. Result: exit_code, "
            "stdout, stderr.",
        },
        "shell": {
            "type": "boolean",
            "description": "Run `command` through the shell. Default: false.",
        },
        "env": {
            "type": "object",
            "propertyNames": {"type": "string"},
            "additionalProperties": {"type": "string"},
            "description": "Extra environment variables for `command` (values are templates).",
        },
        "cwd": {"type": "string", "description": "Working folder of `command`."},
    }

    def build(self, node: Node, scope: BuildScope) -> CommandConfig:
        command = node.child("command")
        return CommandConfig(
            freeze(command.value),
            command.origin,
            shell=freeze(node.get("shell", False)),
            env=freeze(node.get("env")),
            cwd=freeze(node.get("cwd")),
        )

    def run(self, step: Step, ctx: StepContext) -> dict[str, Any]:
        plan = _Plan.from_step(step, ctx)
        if ctx.mode in ("dry-run", "rehearse"):
            return {"skipped": True, "reason": f"{ctx.mode}: commands are not run"}
        ctx.log(f"run {plan.shown}")
        return plan.run(ctx.timeout)

    def describe(self, step: Step, ctx: StepContext) -> dict[str, Any]:
        return _Plan.from_step(step, ctx).describe()

    def verdict(self, step: Step, values: Mapping[str, Any]) -> tuple[Status, str] | None:
        code = values.get("exit_code")
        if step.asserts or code in (0, None):
            return None  # asserts say what a good exit code is, when the step has any
        return Status.CRITICAL, f"exit code {code}"

    def summary(self, values: Mapping[str, Any]) -> str | None:
        return f"exit {values['exit_code']}" if "exit_code" in values else None

    def rendered_summary(self, rendered: Mapping[str, Any], mode: str) -> str | None:
        if "argv" in rendered:
            return "would run " + " ".join(str(arg) for arg in rendered["argv"])
        if "shell" in rendered:
            return "would run a shell script"
        return None


class _Plan:
    """What to start: argv (or a shell script), environment and working directory."""

    def __init__(
        self, args: list[str] | str, shell: bool, env: dict[str, str] | None, cwd: str | None
    ) -> None:
        self.args = args
        self.shell = shell
        self.env = env  # only the step's own variables; os.environ is merged at start
        self.cwd = cwd

    @property
    def shown(self) -> str:
        import shlex

        return self.args if isinstance(self.args, str) else shlex.join(self.args)

    @classmethod
    def from_step(cls, step: Step, ctx: StepContext) -> _Plan:
        written: CommandConfig = step.config
        shell = bool(ctx.render(written.shell))
        config = ctx.render(written.command)
        if shell:
            if not isinstance(config, str):
                raise StepError(
                    "with shell: true give the command as one string, such as "
                    'command: "pg_dump orders | gzip > orders.gz"'
                )
            args: list[str] | str = config
        elif isinstance(config, str):
            raise StepError(
                f"command {config!r} is a string: give a list such as"
                " [pg_dump, --format=c, orders] (each item one argument, no shell),"
                " or set shell: true to run it through the shell"
            )
        elif isinstance(config, list | tuple) and config:
            if any(item is None or isinstance(item, Mapping | list) for item in config):
                raise StepError("each item of a command list must be one value (one argument)")
            args = [_text(item) for item in config]
        else:
            raise StepError(
                "command needs a list of arguments, such as [pg_dump, --format=c, orders]"
            )
        env = written.env
        if env is not None and not isinstance(env, Mapping):
            raise StepError("command env must be a mapping of variable names to values")
        rendered_env = {str(k): _text(v) for k, v in ctx.render(dict(env)).items()} if env else None
        # Commands run in the project folder (runner.yaml's), and a relative `cwd:` is
        # taken from there, so a scheduled run behaves as one started by hand.
        root = ctx.root
        cwd = written.cwd
        rendered_cwd = str(root) if root is not None else None
        if cwd is not None:
            rendered_cwd = str(ctx.render(cwd))
            if root is not None and not os.path.isabs(rendered_cwd):
                rendered_cwd = os.path.join(root, rendered_cwd)
            if not os.path.isdir(rendered_cwd):
                raise StepError(f"cwd {rendered_cwd!r} is not an existing directory")
        return cls(args, shell, rendered_env, rendered_cwd)

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = (
            {"shell": self.args} if isinstance(self.args, str) else {"argv": list(self.args)}
        )
        if self.env:
            out["env"] = mask_env(self.env)
        if self.cwd:
            out["cwd"] = self.cwd
        return out

    def run(self, timeout: float) -> dict[str, Any]:
        import subprocess

        program = "/bin/sh" if self.shell else self.args[0]
        try:
            process = subprocess.Popen(
                self.args,
                shell=self.shell,
                env={**os.environ, **self.env} if self.env else None,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,  # its own process group: killpg reaches its children
            )
        except FileNotFoundError:
            raise StepError(f"command not found: {program}") from None
        except PermissionError:
            raise StepError(f"command is not executable: {program}") from None
        except OSError as error:
            raise StepError(f"cannot start {program}: {error}") from None
        # PIPEs with the default buffering: BufferedReaders (typeshed says IO[bytes])
        assert isinstance(process.stdout, BufferedReader)
        assert isinstance(process.stderr, BufferedReader)
        stdout, stderr = _Capture(process.stdout), _Capture(process.stderr)
        deadline = time.monotonic() + timeout
        finished = False
        try:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
                # A child left running in the background may still hold the pipes open.
                for capture in (stdout, stderr):
                    capture.join(max(0.0, deadline - time.monotonic()))
                finished = not (stdout.is_alive() or stderr.is_alive())
            except subprocess.TimeoutExpired:
                pass
        finally:
            if not finished:  # timed out, or interrupted (Ctrl-C, SIGTERM): leave nothing behind
                _kill_group(process)
                for capture in (stdout, stderr):
                    capture.join(_KILL_GRACE)
        result = {
            "exit_code": process.returncode,
            "stdout": stdout.text(),
            "stderr": stderr.text(),
        }
        if not finished:
            killed = StepTimeout(
                f"{self.shown} did not finish within {format_duration(timeout)}: it was killed"
            )
            killed.result = result  # the output it had given so far
            raise killed
        return result


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    import signal
    import subprocess

    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # already gone, with all of its group
    except PermissionError:  # a process (or zombie group) we may no longer signal
        process.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=_KILL_GRACE)


class _Capture(threading.Thread):
    """Drains one pipe so the program never blocks on it; keeps the first MAX_OUTPUT bytes."""

    def __init__(self, pipe: BufferedReader) -> None:
        super().__init__(daemon=True)
        self.pipe = pipe
        self.kept = bytearray()
        self.total = 0
        self.start()

    def run(self) -> None:
        try:
            while chunk := self.pipe.read1(_CHUNK):
                self.total += len(chunk)
                room = MAX_OUTPUT - len(self.kept)
                if room > 0:
                    self.kept += chunk[:room]
        except (OSError, ValueError):
            pass  # the pipe was closed under us after a kill
        finally:
            self.pipe.close()

    def text(self) -> str:
        text = bytes(self.kept).decode("utf-8", errors="replace")
        if self.total > len(self.kept):
            text += f"\n[truncated: {self.total} bytes in total; the first {MAX_OUTPUT} are kept]"
        return text
