"""`runbook export windows`: a Task Scheduler task (XML, schema 1.2) per runbook.

A cron schedule becomes calendar triggers: the days (every day, days of the week, days
of months) times the times of day. Evenly spaced times of day are one trigger with a
`Repetition` (every 15 minutes from 00:00 for a day); others one trigger per time, up to
32. What the triggers cannot say is refused per runbook: days of the week in some
months only, both days of month and days of week in some months only, and many
unevenly spaced times.

- `MultipleInstancesPolicy`: skip is IgnoreNew, wait is Queue, allow is Parallel.
- `StartWhenAvailable`: a run missed while the machine was off starts when it is back,
  once (catchup: latest; `all` is run as latest, said in a note; `none` is false).
- `ExecutionTimeLimit` backs the runbook's deadline; jitter is each trigger's
  `RandomDelay`.
- Task Scheduler has no IANA zones: a UTC schedule is written in UTC (`Z`), any other in
  the machine's local time, which must then be the runbook's zone (a note says so).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from runner.base.durations import format_duration
from runner.exports.plan import DEADLINE_MARGIN, Exported, Job, Options
from runner.schedule.fields import CronFields

__all__ = ["NAMESPACE", "export", "task_xml"]

NAMESPACE = "http://schemas.microsoft.com/windows/2004/02/mit/task"
#: Triggers written for one task at most (one per time of day and kind of day).
MAX_TRIGGERS = 32
_DAY = 24 * 60
_WEEKDAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_POLICIES = {"skip": "IgnoreNew", "wait": "Queue", "allow": "Parallel"}


def export(jobs: list[Job], options: Options) -> Exported:
    out = Exported()
    for job in jobs:
        task = task_xml(job, options, out)
        if task is not None:
            out.files[f"runbook-{job.name}.xml"] = task
    return out


def task_xml(job: Job, options: Options, out: Exported) -> str | None:
    """The task's XML text (declared UTF-16, as schtasks reads it; the caller writes it
    so); None, with a refusal in `out`, when the schedule cannot be written as triggers."""
    days = _day_patterns(job.fields)
    if isinstance(days, str):
        out.refuse(job, days)
        return None
    times = _times(job.fields)
    if isinstance(times, str):
        out.refuse(job, times)
        return None
    if len(days) * len(times) > MAX_TRIGGERS:
        out.refuse(
            job,
            f"{len(days) * len(times)} triggers would be needed (at most {MAX_TRIGGERS})",
        )
        return None
    ET.register_namespace("", NAMESPACE)
    task = ET.Element(_tag("Task"), version="1.2")
    info = _sub(task, "RegistrationInfo")
    _sub(info, "Description", f"runbook {job.name}: {job.title} ({job.schedule!r} from {job.path})")
    _sub(info, "URI", f"\\runbook\\{job.name}")
    triggers = _sub(task, "Triggers")
    utc = job.timezone == "UTC"
    for start, repeat_every, repeat_for in times:
        for pattern in days:
            trigger = _sub(triggers, "CalendarTrigger")
            clock = f"{start // 60:02d}:{start % 60:02d}:00"
            _sub(trigger, "StartBoundary", f"2026-01-01T{clock}{'Z' if utc else ''}")
            if repeat_every:
                repetition = _sub(trigger, "Repetition")
                _sub(repetition, "Interval", f"PT{repeat_every}M")
                _sub(repetition, "Duration", f"PT{repeat_for}M")
                _sub(repetition, "StopAtDurationEnd", "false")
            if job.jitter:
                _sub(trigger, "RandomDelay", f"PT{int(job.jitter)}S")
            trigger.append(pattern)
    settings = _sub(task, "Settings")
    _sub(settings, "MultipleInstancesPolicy", _POLICIES.get(job.concurrency, "IgnoreNew"))
    _sub(settings, "DisallowStartIfOnBatteries", "false")
    _sub(settings, "StopIfGoingOnBatteries", "false")
    _sub(settings, "StartWhenAvailable", "false" if job.catchup == "none" else "true")
    limit = f"PT{int(job.deadline) + DEADLINE_MARGIN}S" if job.deadline else "PT0S"
    _sub(settings, "ExecutionTimeLimit", limit)
    _sub(settings, "Enabled", "true")
    actions = _sub(task, "Actions", Context="Author")
    run = _sub(actions, "Exec")
    command, *arguments = [*options.command, *job.run_args()]
    _sub(run, "Command", command)
    _sub(run, "Arguments", " ".join(_quoted(argument) for argument in arguments))
    _sub(run, "WorkingDirectory", str(job.workdir))
    for message in _differences(job):
        out.note(job, message)
    ET.indent(task)
    body = ET.tostring(task, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-16"?>\n' + body + "\n"


def _tag(name: str) -> str:
    return f"{{{NAMESPACE}}}{name}"


def _sub(parent: ET.Element, name: str, text: str | None = None, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, _tag(name), attributes)
    if text is not None:
        element.text = text
    return element


def _element(name: str, *children: ET.Element, text: str | None = None) -> ET.Element:
    element = ET.Element(_tag(name))
    element.extend(children)
    if text is not None:
        element.text = text
    return element


def _day_patterns(fields: CronFields) -> list[ET.Element] | str:
    """The schedule elements of the calendar triggers (one, or two when cron fires on a
    day of month or a day of week), or why there are none."""
    days, months, weekdays = fields.days, fields.months, fields.weekdays
    if weekdays is not None and months is not None:
        return "days of the week in some months only cannot be written as Task Scheduler triggers"
    patterns = []
    if days is not None or (months is not None and weekdays is None):
        patterns.append(_by_month(days or tuple(range(1, 32)), months))
    if weekdays is not None:
        patterns.append(_by_week(weekdays))
    if not patterns:
        patterns.append(_element("ScheduleByDay", _element("DaysInterval", text="1")))
    return patterns


def _by_week(weekdays: tuple[int, ...]) -> ET.Element:
    return _element(
        "ScheduleByWeek",
        _element("WeeksInterval", text="1"),
        _element("DaysOfWeek", *(_element(_WEEKDAYS[day]) for day in weekdays)),
    )


def _by_month(days: tuple[int, ...], months: tuple[int, ...] | None) -> ET.Element:
    return _element(
        "ScheduleByMonth",
        _element("DaysOfMonth", *(_element("Day", text=str(day)) for day in days)),
        _element("Months", *(_element(_MONTHS[m - 1]) for m in months or range(1, 13))),
    )


def _times(fields: CronFields) -> list[tuple[int, int, int]] | str:
    """The times of day as (start minute, repeat every N minutes, for M minutes): one
    repeating trigger when they are evenly spaced, else one each; or why not."""
    minutes = fields.minutes if fields.minutes is not None else tuple(range(60))
    hours = fields.hours if fields.hours is not None else tuple(range(24))
    times = sorted(hour * 60 + minute for hour in hours for minute in minutes)
    if len(times) == 1:
        return [(times[0], 0, 0)]
    step = times[1] - times[0]
    if all(b - a == step for a, b in zip(times, times[1:], strict=False)):
        # from the first, every `step` minutes, until just past the last
        return [(times[0], step, times[-1] - times[0] + 1)]
    if len(times) > MAX_TRIGGERS:
        return (
            f"{len(times)} times a day, not evenly spaced, would need a trigger each "
            f"(at most {MAX_TRIGGERS})"
        )
    return [(time, 0, 0) for time in times]


def _quoted(argument: str) -> str:
    """An argument on a Windows command line (CommandLineToArgvW's rules, as Python's
    subprocess writes them)."""
    import subprocess

    return subprocess.list2cmdline([argument])


def _differences(job: Job) -> list[str]:
    found = []
    if job.timezone != "UTC":
        found.append(
            f"Task Scheduler has no time zones: the times are the machine's local time, "
            f"which must be {job.timezone}"
        )
    if job.catchup == "all":
        found.append(
            "catchup: all cannot be expressed by Task Scheduler: StartWhenAvailable runs a "
            "missed run once (as catchup: latest)"
        )
    if job.catchup != "none" and job.window_written:
        found.append(
            f"catchup_window: {format_duration(job.catchup_window)} cannot be expressed by "
            "Task Scheduler: StartWhenAvailable catches up a missed run however long ago"
        )
    return found
