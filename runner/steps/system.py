"""The `system` step: the host's own resources, read with psutil on Linux and Windows
alike ("df -h", "ps aux | grep edi-processor", "alert if the disk is over 80% full").

    - id: disk
      system: {disk: var/demo/edi}
      thresholds:
        disk_percent: {warning: 80, critical: 90}
    - id: host
      system: {memory: true, load: true, cpu: 1s}
    - id: processor
      system: {process: edi-processor}
      assert: [process_count >= 1]

Any of these keys may be combined in one step; each adds its values to the result:

- `disk: PATH` (a template; a relative path starts at runner.yaml's folder): the usage
  of the file system holding PATH: `disk_percent`, `disk_used_bytes`, `disk_free_bytes`,
  `disk_total_bytes`, `disk_path` (the path read). A path that does not exist fails the
  step, naming it, rather than reading some other disk.
- `memory: true`: `memory_percent`, `memory_available_bytes`, `memory_total_bytes`.
- `load: true`: `load_1`, `load_5`, `load_15`, `cpu_count` and `load_per_cpu` (load_1 /
  cpu_count). Windows has no load average: psutil emulates one, which reads 0 at first.
- `cpu: true` or a duration (`cpu: 1s`): `cpu_percent`, how busy all CPUs were over that
  interval (default 500ms). The wait is the run's, like a `wait` step's: it ends at the
  run's deadline, and the step's timeout bounds it.
- `process: TEXT` (a template): `process_count` and `process_pids` (the first 20, in
  order) of the processes whose name or command line contains TEXT, case-sensitive as
  `grep` is. Not counted: the runner's own process, every process above it (the shell,
  `timeout`, sudo or cron job that started `runbook run`, whose command lines carry the
  same text; a cron daemon or sshd it runs under too) and its own child processes.

Only thresholds and asserts judge the values: `assert: [process_count >= 1]` says that a
process must run. Nothing is changed, so a rehearsal reads the values too; a dry run
does not.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from runner.base.durations import format_duration, parse_duration
from runner.base.errors import Aborted, StepError, StepTimeout
from runner.language.model import NOTHING, Origin
from runner.language.nodes import freeze
from runner.language.schema_gen import MEANING
from runner.language.steptypes import BuildScope, StepChecks, StepConfig
from runner.language.templates import is_template
from runner.steps.base import StepType
from runner.steps.fileplan import resolved, size_text

if TYPE_CHECKING:
    from runner.language.model import Step
    from runner.language.nodes import Node
    from runner.steps.context import StepContext

#: What `system:` can read, in the order results and summaries list them.
READINGS = ("disk", "memory", "load", "cpu", "process")
#: How long `cpu: true` samples (seconds).
CPU_INTERVAL = 0.5
#: The process ids listed in the result; `process_count` still counts them all.
MAX_PIDS = 20


class SystemConfig(StepConfig, frozen=True):
    """What to read, as written (templates unrendered; None: not asked for)."""

    origin: Origin  # of the `system:` mapping
    disk: Any = None  # a path, or a template of one
    memory: Any = None  # true
    load: Any = None  # true
    cpu: Any = None  # true, or a duration (or a template of one)
    process: Any = None  # a name or command-line text, or a template of one
    origins: Mapping[str, Origin] = NOTHING  # of each key given

    @property
    def asked(self) -> tuple[str, ...]:
        """The readings asked for, in READINGS order."""
        return tuple(name for name in READINGS if name in self.origins)


class SystemStep(StepType):
    name = "system"
    schema = {"system": {"$ref": "#/$defs/system"}}
    definitions = {
        "system": {
            "title": "Host resources",
            "type": "object",
            "additionalProperties": False,
            "anyOf": [{"required": [name]} for name in READINGS],
            "description": "The host's disk usage, memory, load, CPU or processes (psutil, "
            "on Linux and Windows alike); any of them in one step. Thresholds and asserts "
            "judge the values, such as disk_percent or process_count.",
            "properties": {
                "disk": {
                    "type": "string",
                    "minLength": 1,
                    "description": "A path (a template) whose file system is read, such as "
                    "D:/ or /var/lib/edi; a relative path starts at runner.yaml's folder. "
                    "Result: disk_percent, disk_used_bytes, disk_free_bytes, "
                    "disk_total_bytes, disk_path.",
                },
                "memory": {
                    MEANING: "memory: takes true",
                    "const": True,
                    "description": "true: read memory. Result: memory_percent, "
                    "memory_available_bytes, memory_total_bytes.",
                },
                "load": {
                    MEANING: "load: takes true",
                    "const": True,
                    "description": "true: read the load average. Result: load_1, load_5, "
                    "load_15, cpu_count, load_per_cpu (load_1 / cpu_count).",
                },
                "cpu": {
                    MEANING: "cpu: takes true or a duration",
                    "anyOf": [{"const": True}, {"$ref": "#/$defs/duration"}],
                    "description": "true (over 500ms) or a duration such as 1s: how busy the "
                    "CPUs were over that interval. Result: cpu_percent.",
                },
                "process": {
                    "type": "string",
                    "minLength": 1,
                    "description": "Text (a template) that a process's name or command line "
                    "contains, case-sensitive, like ps aux | grep; the runner itself is not "
                    "counted. Result: process_count, process_pids (the first 20).",
                },
            },
        }
    }

    # -- loading ------------------------------------------------------------------------

    def build(self, node: Node, scope: BuildScope) -> SystemConfig:
        system = node.child("system")
        given = {name: child for name in READINGS if (child := system.at(name)) is not None}
        return SystemConfig(
            system.origin,
            **{name: freeze(child.value) for name, child in given.items()},
            origins=freeze({name: child.origin for name, child in given.items()}),
        )

    def default_timeout(self, config: SystemConfig, timeout: float) -> float:
        """A CPU sample may take as long as it samples, whatever the default timeout says."""
        try:
            return max(timeout, _cpu_interval(config.cpu) + 1.0)
        except (TypeError, ValueError):  # a template, or what the checks report
            return timeout

    def check(self, config: SystemConfig, checks: StepChecks) -> None:
        for name in ("memory", "load"):
            value = getattr(config, name)
            if name in config.origins and value is not True:
                checks.add(
                    config.origins[name],
                    f"takes only true, not {_shown(value)}",
                    f"write {name}: true to read it, or remove the key",
                )
        cpu = config.cpu
        if "cpu" in config.origins and not (isinstance(cpu, str) and is_template(cpu)):
            try:
                _cpu_interval(cpu)
            except (TypeError, ValueError) as error:
                checks.add(config.origins["cpu"], str(error), "cpu: true samples over 500ms")
        process = config.process
        if "process" in config.origins and isinstance(process, str) and not process.strip():
            checks.add(
                config.origins["process"],
                "the text is blank: every process would match",
                "write part of the process's name or command line, such as edi-processor",
            )

    # -- running ------------------------------------------------------------------------

    def run(self, step: Step, ctx: StepContext) -> dict[str, Any]:
        target = _target(step.config, ctx)
        if ctx.mode == "dry-run":
            return {"skipped": True, "reason": "dry-run: the host is not read"}
        ctx.log(f"read {', '.join(step.config.asked)}")
        return read(target, ctx)

    def describe(self, step: Step, ctx: StepContext) -> dict[str, Any]:
        target = _target(step.config, ctx)
        if "cpu" in target:
            target["cpu"] = format_duration(target["cpu"])
        return target

    def summary(self, values: Mapping[str, Any]) -> str | None:
        parts = []
        if "disk_percent" in values:
            total = size_text(int(values.get("disk_total_bytes") or 0))
            parts.append(f"disk {float(values['disk_percent']):.0f}% of {total}")
        if "memory_percent" in values:
            parts.append(f"memory {float(values['memory_percent']):.0f}%")
        if "load_1" in values:
            per_cpu = f" ({float(values.get('load_per_cpu') or 0):.2f} per CPU)"
            parts.append(f"load {float(values['load_1']):.2f}{per_cpu}")
        if "cpu_percent" in values:
            parts.append(f"cpu {float(values['cpu_percent']):.0f}%")
        if "process_count" in values:
            count = int(values["process_count"])
            parts.append(f"{count} process" if count == 1 else f"{count} processes")
        return ", ".join(parts) or None

    def rendered_summary(self, rendered: Mapping[str, Any], mode: str) -> str | None:
        parts = []
        if "disk" in rendered:
            parts.append(f"the disk of {rendered['disk']}")
        parts += [name for name in ("memory", "load") if name in rendered]
        if "cpu" in rendered:
            parts.append(f"cpu over {rendered['cpu']}")
        if "process" in rendered:
            parts.append(f"processes matching {rendered['process']!r}")
        return f"would read {', '.join(parts)}" if parts else None


def _cpu_interval(value: Any) -> float:
    """Seconds that `cpu:` samples over; raises ValueError (TypeError) when it says none."""
    if value is True:
        return CPU_INTERVAL
    if value is False or value is None:
        raise ValueError(f"takes true or a duration, not {_shown(value)}")
    seconds = parse_duration(value)
    if seconds <= 0:
        raise ValueError(f"{value!r} is no time to sample over: give a duration above 0")
    return seconds


def _shown(value: Any) -> str:
    """A value as YAML writes it: false, not False."""
    return (
        "null" if value is None else str(value).lower() if isinstance(value, bool) else repr(value)
    )


def _target(config: SystemConfig, ctx: StepContext) -> dict[str, Any]:
    """What to read, rendered and checked: disk (an absolute path), memory, load, cpu
    (seconds), process (the text)."""
    target: dict[str, Any] = {}
    if "disk" in config.origins:
        disk = ctx.render(config.disk)
        if not isinstance(disk, str) or not disk.strip():
            raise StepError(f"system disk: {disk!r} is not a path")
        target["disk"] = str(resolved(disk.strip(), ctx.root))
    for name in ("memory", "load"):
        if name in config.origins:
            target[name] = True
    if "cpu" in config.origins:
        try:
            target["cpu"] = _cpu_interval(ctx.render(config.cpu))
        except (TypeError, ValueError) as error:
            raise StepError(f"system cpu: {error}") from None
    if "process" in config.origins:
        process = ctx.render(config.process)
        if not isinstance(process, str) or not process.strip():
            raise StepError(f"system process: {process!r} names no process")
        target["process"] = process
    return target


def read(target: Mapping[str, Any], ctx: StepContext) -> dict[str, Any]:
    """The readings `target` asks for, as values (psutil is imported here, on first use)."""
    import psutil

    values: dict[str, Any] = {}
    if "disk" in target:
        values.update(_disk(psutil, target["disk"]))
    if "memory" in target:
        memory = psutil.virtual_memory()
        values.update(
            memory_percent=float(memory.percent),
            memory_available_bytes=int(memory.available),
            memory_total_bytes=int(memory.total),
        )
    if "load" in target:
        load_1, load_5, load_15 = psutil.getloadavg()
        count = psutil.cpu_count() or os.cpu_count() or 1
        values.update(
            load_1=round(load_1, 2),
            load_5=round(load_5, 2),
            load_15=round(load_15, 2),
            cpu_count=count,
            load_per_cpu=round(load_1 / count, 2),
        )
    if "process" in target:
        pids = _matching(psutil, target["process"])
        values.update(process_count=len(pids), process_pids=pids[:MAX_PIDS])
    if "cpu" in target:
        values["cpu_percent"] = _cpu_percent(psutil, target["cpu"], ctx)
    return values


def _disk(psutil: Any, path: str) -> dict[str, Any]:
    if not os.path.exists(path):
        raise StepError(f"system disk: no such file or folder: {path}")
    try:
        usage = psutil.disk_usage(path)
    except OSError as error:
        raise StepError(f"system disk: cannot read {path}: {error.strerror or error}") from None
    return {
        "disk_percent": float(usage.percent),
        "disk_used_bytes": int(usage.used),
        "disk_free_bytes": int(usage.free),
        "disk_total_bytes": int(usage.total),
        "disk_path": path,
    }


def _matching(psutil: Any, text: str) -> list[int]:
    """The ids of the processes whose name or command line contains `text`, in order;
    not this process, nor those that started it (the shell, `timeout`, sudo or cron job
    whose command line holds the runner's and so the text), nor its own children."""
    me = psutil.Process()
    mine = {me.pid, *(p.pid for p in me.parents()), *(p.pid for p in me.children(recursive=True))}
    found = []
    for process in psutil.process_iter(["pid", "name", "cmdline"]):
        info = process.info  # a value psutil may not read (another user's) is None
        if info["pid"] in mine:
            continue
        if text in (info.get("name") or "") or text in " ".join(info.get("cmdline") or ()):
            found.append(int(info["pid"]))
    return sorted(found)


def _cpu_percent(psutil: Any, seconds: float, ctx: StepContext) -> float:
    """How busy the CPUs were over `seconds`, waited with the run's sleep (it ends at the
    run's deadline), not with psutil's own, and not read when the run was stopped."""
    if seconds > ctx.timeout:
        ctx.sleep(ctx.timeout)
        raise StepTimeout(
            f"cpu: {format_duration(seconds)} is longer than the step's timeout "
            f"{format_duration(ctx.timeout)}: raise timeout: or sample over less"
        )
    psutil.cpu_percent(interval=None)  # this thread's starting point
    ctx.sleep(seconds)
    if ctx.abort.is_set():  # stopped while it sampled (Ctrl-C, SIGTERM): no reading
        raise Aborted(ctx.abort.by)
    return float(psutil.cpu_percent(interval=None))
