"""The `command` step: run one program, for what SQL and HTTP cannot do.

An argv list runs without a shell, so rendered values stay single arguments whatever
they contain. A string runs through /bin/sh only when the step says `shell: true`;
values that come from inputs are then safest passed through `env:` and quoted in the
script ("$NAME"), because a template rendered into shell text is shell text.

The program starts in its own process group (a new session on POSIX) so that stopping
it stops everything it started, not just the first process. It is stopped on its
timeout, on the run's abort (checked while it runs) and on Ctrl-C or SIGTERM: the whole
group gets SIGTERM, then SIGKILL when anything of it is still there after a short grace.
On Windows the program gets a new process group too (CREATE_NEW_PROCESS_GROUP): it gets
CTRL_BREAK_EVENT, which reaches the console processes of its group, then is terminated
(TerminateProcess) after the grace; Windows has no signal for a whole group, so a
process it started that ignores the break is not reached.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections.abc import Mapping
from io import BufferedReader
from typing import TYPE_CHECKING, Any

from runner.base.durations import format_duration
from runner.base.errors import Aborted, StepError, StepTimeout
from runner.base.masking import mask_env
from runner.base.status import Status
from runner.language.model import Origin
from runner.language.nodes import freeze
from runner.language.steptypes import BuildScope, StepChecks, StepConfig
from runner.steps.base import StepType

if TYPE_CHECKING:
    import subprocess

    from runner.base.abort import RunAbort
    from runner.language.model import Step
    from runner.language.nodes import Node
    from runner.steps.context import StepContext

#: stdout and stderr each keep this much; the rest is read and dropped.
MAX_OUTPUT = 1024 * 1024
#: Seconds a stopped program's process group has between SIGTERM and SIGKILL.
TERM_GRACE = 2.0
#: After a kill, how long to wait for the pipes to close before giving up on them.
_KILL_GRACE = 5.0
#: How often a running program's timeout and the run's abort are looked at, in seconds.
_POLL = 0.05
_CHUNK = 64 * 1024


class CommandConfig(StepConfig, frozen=True):
    """A program to start, as written (templates unrendered, read-only)."""

    command: Any  # an argv tuple, or a script string for `shell: true`
    origin: Origin
    shell: Any = False
    env: Any = None  # a read-only mapping of variable names to templates
    cwd: Any = None


class CommandStep(StepType):
    name = "command"
    #: seconds between SIGTERM and SIGKILL when a program is stopped
    grace = TERM_GRACE
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

    def check(self, config: CommandConfig, checks: StepChecks) -> None:
        from runner.language.templates import is_template

        if config.shell is True and is_template(config.command):
            checks.add(
                config.origin,
                "a template in a `shell: true` script is an injection: its value becomes "
                "shell code",
                "use the argv form with the value as one argument, such as "
                "command: [grep, '{{ inputs.x }}', file]; or pass it through `env:` and "
                'quote it in the script: "$X"',
            )

    def run(self, step: Step, ctx: StepContext) -> dict[str, Any]:
        plan = _Plan.from_step(step, ctx)
        if ctx.mode in ("dry-run", "rehearse"):
            return {"skipped": True, "reason": f"{ctx.mode}: commands are not run"}
        ctx.log(f"run {plan.shown}")
        return plan.run(ctx.timeout, ctx.abort, self.grace)

    def describe(self, step: Step, ctx: StepContext) -> dict[str, Any]:
        return _Plan.from_step(step, ctx).describe()

    def verdict(self, step: Step, values: Mapping[str, Any]) -> tuple[Status, str] | None:
        code = values.get("exit_code")
        if values.get("timed_out"):
            return None  # timed_out, as a SQL statement on its timeout, not failed for its signal
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

    def run(self, timeout: float, abort: RunAbort, grace: float = TERM_GRACE) -> dict[str, Any]:
        import subprocess

        if abort.is_set():  # the run was stopped before this step began
            raise Aborted(abort.by)
        program = "/bin/sh" if self.shell else self.args[0]
        flags = 0
        if sys.platform == "win32":  # a group of its own, which CTRL_BREAK_EVENT reaches
            flags = subprocess.CREATE_NEW_PROCESS_GROUP
        try:
            process = subprocess.Popen(
                self.args,
                shell=self.shell,
                env={**os.environ, **self.env} if self.env else None,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,  # POSIX: its own process group, which killpg reaches
                creationflags=flags,
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
        finished = False
        # From here on an interruption (Ctrl-C, SIGTERM) stops the program too. One that
        # lands inside Popen, before it returns, leaves the program running: the handlers
        # raise wherever Python code runs, and the pid is not known yet.
        try:
            stdout.start()
            stderr.start()
            finished = _wait(process, (stdout, stderr), time.monotonic() + timeout, abort)
        finally:
            if not finished:  # timed out, aborted or interrupted
                _stop_group(process, grace)
                for capture in (stdout, stderr):
                    if capture.ident is not None:  # started
                        capture.join(_KILL_GRACE)
        result = {
            "exit_code": process.returncode,
            "stdout": stdout.text(),
            "stderr": stderr.text(),
        }
        if not finished:
            if abort.is_set():
                raise Aborted(abort.by)
            result["timed_out"] = True  # the exit code is the signal it was killed with
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


def _wait(
    process: subprocess.Popen[bytes],
    captures: tuple[_Capture, ...],
    deadline: float,
    abort: RunAbort,
) -> bool:
    """Wait for the program to exit and its pipes to close (a child it left running in
    the background may hold them open); False when it must be stopped first: the
    deadline passed or the run's abort was set."""
    import subprocess

    while True:
        running = process.poll() is None
        draining = [capture for capture in captures if capture.is_alive()]
        if not running and not draining:
            return True
        left = deadline - time.monotonic()
        if abort.is_set() or left <= 0:
            return False
        if running:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=min(_POLL, left))
        else:
            draining[0].join(min(_POLL, left))


def _stop_group(process: subprocess.Popen[bytes], grace: float) -> None:
    """Stop the program and everything in its process group: SIGTERM, then SIGKILL for
    what is still there after `grace` seconds. Another interruption during the grace
    goes straight to SIGKILL."""
    import subprocess

    if sys.platform == "win32":
        import signal

        try:
            process.send_signal(signal.CTRL_BREAK_EVENT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=grace)
        finally:
            process.kill()  # TerminateProcess; a no-op once it has exited
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=_KILL_GRACE)
        return
    import signal

    present = True
    try:
        present = _signal_group(process, signal.SIGTERM)
        end = time.monotonic() + grace
        while present and time.monotonic() < end:
            time.sleep(_POLL)
            process.poll()  # reap the program: until then it counts as one of its group
            present = _signal_group(process, 0) and _running_in_group(process.pid)
    finally:
        if present:
            _signal_group(process, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=_KILL_GRACE)


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> bool:
    """Send `signum` to the program's process group (0: only ask whether it is there);
    False when nothing of the group is left to signal."""
    try:
        os.killpg(process.pid, signum)
    except ProcessLookupError:
        return False  # the program and all of its group are gone
    except PermissionError:  # a group we may no longer signal (macOS, when only zombies remain)
        if signum:
            process.send_signal(signum)
        return process.poll() is None
    return True


def _running_in_group(group: int) -> bool:
    """Whether a process of `group` is still running, zombies aside: an orphan's zombie
    lingers where PID 1 does not reap (a container without an init) and would keep a
    stopped group waiting out the grace. Where /proc cannot tell, assume one is."""
    from pathlib import Path

    if not Path("/proc/self/stat").exists():
        return True
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:  # pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses
            state, _, pgrp = stat.read_text().rsplit(")", 1)[1].split()[:3]
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        if pgrp == str(group) and state != "Z":
            return True
    return False


class _Capture(threading.Thread):
    """Drains one pipe so the program never blocks on it; keeps the first MAX_OUTPUT bytes
    (once started)."""

    def __init__(self, pipe: BufferedReader) -> None:
        super().__init__(daemon=True)
        self.pipe = pipe
        self.kept = bytearray()
        self.total = 0

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
