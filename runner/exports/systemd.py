"""`runbook export systemd`: a `.service` and a `.timer` per runbook.

The timer's `OnCalendar=` is the cron schedule as a calendar event in the runbook's
zone (`*-*-* *:00:00 Europe/Paris`); day of month and day of week both restricted
become two `OnCalendar=` lines, since cron fires on either and systemd needs both of one
line. `Persistent=` comes from catch-up: `latest` runs the missed elapse once after
downtime (as systemd does), `none` runs none; `all` is run as `latest`, said in a note.
jitter is `RandomizedDelaySec=`. The service is `Type=oneshot`, so the timer never
starts it twice at once: an overlapping run is skipped (concurrency: skip), and a note
says so for `wait` and `allow`. `TimeoutStartSec=` backs the runbook's deadline.
"""

from __future__ import annotations

from runner.base.durations import format_duration
from runner.exports.plan import DEADLINE_MARGIN, Exported, Job, Options
from runner.schedule.fields import CronFields

__all__ = ["export", "on_calendar", "unit_name"]

_WEEKDAYS = ("Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat")


def unit_name(job: Job) -> str:
    return f"runbook-{job.name}"


def export(jobs: list[Job], options: Options) -> Exported:
    out = Exported()
    for job in jobs:
        name = unit_name(job)
        out.files[f"{name}.service"] = _service(job, options)
        out.files[f"{name}.timer"] = _timer(job, out)
    return out


def on_calendar(fields: CronFields, zone: str) -> list[str]:
    """The `OnCalendar=` values of a cron schedule in `zone`: one, or two when cron's
    day of month and day of week are both restricted (either fires)."""
    time = f"{_values(fields.hours, 24)}:{_values(fields.minutes, 60)}:00"
    month = _values(fields.months, 13, first=1)
    if fields.days_or_weekdays:
        return [
            f"*-{month}-{_values(fields.days, 32, first=1)} {time} {zone}",
            f"{_weekdays(fields.weekdays)} *-{month}-* {time} {zone}",
        ]
    weekdays = f"{_weekdays(fields.weekdays)} " if fields.weekdays is not None else ""
    return [f"{weekdays}*-{month}-{_values(fields.days, 32, first=1)} {time} {zone}"]


def _values(values: tuple[int, ...] | None, end: int, first: int = 0) -> str:
    """A calendar component: `*`, `START/STEP` for a regular step to the end of its
    range, else the values listed (two digits, as systemd writes them)."""
    if values is None:
        return "*"
    if len(values) > 1:
        step = values[1] - values[0]
        regular = all(b - a == step for a, b in zip(values, values[1:], strict=False))
        if regular and values[0] - step < first and values[-1] + step >= end:
            return f"{values[0]:02d}/{step}"
    return ",".join(f"{value:02d}" for value in values)


def _weekdays(values: tuple[int, ...] | None) -> str:
    assert values is not None
    return ",".join(_WEEKDAYS[value] for value in values)


def _escape(text: str) -> str:
    """A value in a unit file: `%` starts a specifier, a newline ends the value."""
    return text.replace("%", "%%").replace("\n", " ")


def _quoted(argument: str) -> str:
    if argument and all(c.isalnum() or c in "-_./:=@+," for c in argument):
        return argument
    return '"' + argument.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _service(job: Job, options: Options) -> str:
    argv = [*options.command, *job.run_args()]
    timeout = "infinity"
    if job.deadline:
        timeout = f"{int(job.deadline) + DEADLINE_MARGIN}s"
    title = f": {job.title}" if job.title else ""
    return "\n".join(
        [
            f"# runbook export systemd: {job.name}, from {job.path}",
            "[Unit]",
            _escape(f"Description=runbook {job.name}{title}"),
            "Wants=network-online.target",
            "After=network-online.target",
            "",
            "[Service]",
            "Type=oneshot",
            _escape(f"WorkingDirectory={job.workdir}"),
            _escape("ExecStart=" + " ".join(_quoted(argument) for argument in argv)),
            f"TimeoutStartSec={timeout}",
            "# Set User= to the owner of the runner's var/ folder, and the secrets that",
            "# runner.yaml's ${VAR}s read with EnvironmentFile=.",
            "",
        ]
    )


def _timer(job: Job, out: Exported) -> str:
    lines = [
        f"# runbook export systemd: {job.name} on {job.schedule!r} in {job.timezone}",
        "[Unit]",
        _escape(f"Description=runbook {job.name} on {job.schedule!r} ({job.timezone})"),
        "",
        "[Timer]",
    ]
    lines += [f"OnCalendar={event}" for event in on_calendar(job.fields, job.timezone)]
    lines.append("AccuracySec=1s")
    if job.jitter:
        lines.append(f"RandomizedDelaySec={int(job.jitter)}s")
    lines.append(f"Persistent={'false' if job.catchup == 'none' else 'true'}")
    for message in _differences(job):
        out.note(job, message)
        lines.append(f"# {message}")
    lines += ["", "[Install]", "WantedBy=timers.target", ""]
    return "\n".join(lines)


def _differences(job: Job) -> list[str]:
    """What the units do otherwise than the runbook asks."""
    found = []
    if job.catchup == "all":
        found.append(
            "catchup: all cannot be expressed by systemd: Persistent=true runs the missed "
            "elapses once (as catchup: latest)"
        )
    if job.catchup != "none" and job.window_written:
        found.append(
            f"catchup_window: {format_duration(job.catchup_window)} cannot be expressed by "
            "systemd: Persistent=true catches up a missed run however long ago"
        )
    if job.concurrency in ("wait", "allow"):
        found.append(
            f"concurrency: {job.concurrency} cannot be expressed by systemd: a timer does not "
            "start its service while it runs, so an overlapping run is skipped"
        )
    return found
