"""`runbook export cron|systemd|kubernetes|windows`: each target's files, checked by the
target's own tools where they run here (systemd-analyze, kubernetes-validate), and what
a target cannot express said per runbook."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest
import yaml

from runner.cli import main
from runner.schedule.cron import CronSchedule
from runner.schedule.fields import cron_fields

STEPS = "connection: main\nsteps:\n  - sql: SELECT 1\n"
RUNNER = "/usr/local/bin/runbook"


def scheduled(project) -> None:
    project.runbook(
        "paris",
        "runbook: paris\ntitle: Paris at night\nschedule: '30 2 * * 1-5'\n"
        "timezone: Europe/Paris\njitter: 2m\ncatchup: all\nconcurrency: wait\ndeadline: 5m\n"
        + STEPS,
    )
    project.runbook(
        "quarter",
        "runbook: quarter\nschedule: '*/15 * * * *'\ncatchup: none\ndeadline: 50s\n" + STEPS,
    )


def export(project, capsys, *args: str) -> tuple[int, str, list[str]]:
    code = main(["export", *args, "--command", RUNNER])
    out, err = capsys.readouterr()
    out = out.replace(str(project.root), "{root}")
    return code, out, err.replace(str(project.root), "{root}").splitlines()


# -- cron --------------------------------------------------------------------------------


def test_cron(project, capsys):
    scheduled(project)
    code, out, err = export(project, capsys, "cron")
    assert code == 0
    assert out == (
        "# runbook export cron: install with `crontab -e` (or `crontab FILE`, which replaces\n"
        "# the whole crontab) as the user that owns the runner's var/ folder.\n"
        "# No flock: the runner locks each runbook itself (concurrency:).\n"
        "SHELL=/bin/bash\n"
        "\n"
        "# paris: Paris at night\n"
        "# from runbooks/paris.yaml\n"
        "# catchup: all cannot be expressed by cron: a run missed while the host was down is not run (systemd's Persistent= or the runner's scheduler catch up)\n"
        "# jitter: a random sleep of up to 2m first\n"
        "CRON_TZ=Europe/Paris\n"
        "30 2 * * 1-5 sleep $((RANDOM \\% 121)); cd {root} && /usr/local/bin/runbook --config {root}/runner.yaml run paris --trigger schedule >/dev/null\n"
        "\n"
        "# quarter\n"
        "# from runbooks/quarter.yaml\n"
        "CRON_TZ=UTC\n"
        "*/15 * * * * cd {root} && /usr/local/bin/runbook --config {root}/runner.yaml run quarter --trigger schedule >/dev/null\n"
    )
    assert err == [
        "runbook export cron: paris: catchup: all cannot be expressed by cron: a run missed while the host was down is not run (systemd's Persistent= or the runner's scheduler catch up)"
    ]


def test_a_title_on_several_lines_stays_a_comment(project, capsys):
    project.runbook(
        "t", "runbook: t\ntitle: \"first\\n0 * * * * rm -rf /\"\nschedule: '0 0 * * *'\n" + STEPS
    )
    _, out, _ = export(project, capsys, "cron")
    assert "# t: first 0 * * * * rm -rf /\n" in out
    assert [line for line in out.splitlines() if line and not line.startswith("#")] == [
        "CRON_TZ=UTC",
        "0 0 * * * cd {root} && /usr/local/bin/runbook --config {root}/runner.yaml run t --trigger schedule >/dev/null",
    ]


def test_an_extension_of_croniter_is_refused_by_every_target(project, capsys):
    project.runbook("last", "runbook: last\nschedule: '0 0 L * *'\n" + STEPS)
    project.runbook("plain", "runbook: plain\nschedule: '0 0 * * *'\n" + STEPS)
    for target in ("cron", "systemd", "kubernetes", "windows"):
        code, out, err = export(project, capsys, target)
        assert code == 1, target
        assert "last" not in out.replace("# the whole", ""), target
        assert "plain" in out, target
        assert (
            f"runbook export {target}: last: not exported: the day of month 'L' uses a croniter "
            "extension (L, W or #) that other schedulers do not have"
        ) in err


def test_names_without_a_schedule_are_refused(project, capsys):
    scheduled(project)
    project.runbook("manual", "runbook: manual\n" + STEPS)
    code, out, err = export(project, capsys, "cron", "manual", "quarter")
    assert code == 1
    assert "run quarter" in out and "manual" not in out
    assert err == ["runbook export cron: manual: not exported: it has no schedule:"]


# -- systemd -----------------------------------------------------------------------------


def systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("systemd-analyze is missing: scripts/test installs Debian's systemd")
        pytest.skip("systemd-analyze is not installed (apt-get install systemd)")
    return found


CALENDARS = [
    ("*/15 * * * *", "UTC", ["*-*-* *:00/15:00 UTC"]),
    ("0 7 * * 1", "Europe/Paris", ["Mon *-*-* 07:00:00 Europe/Paris"]),
    ("30 2 * * 1-5", "Europe/Paris", ["Mon,Tue,Wed,Thu,Fri *-*-* 02:30:00 Europe/Paris"]),
    # cron fires on the 13th or on a Friday: two events
    ("0 9 13 * 5", "UTC", ["*-*-13 09:00:00 UTC", "Fri *-*-* 09:00:00 UTC"]),
    (
        "0 9-17/2 * JAN-MAR *",
        "America/New_York",
        ["*-01,02,03-* 09,11,13,15,17:00:00 America/New_York"],
    ),
    ("5,35 */6 1,15 * *", "UTC", ["*-*-01,15 00/6:05/30:00 UTC"]),
    ("0 0 * * 0", "UTC", ["Sun *-*-* 00:00:00 UTC"]),
    # in the hour Paris skips in spring and repeats in autumn
    ("30 2 * * *", "Europe/Paris", ["*-*-* 02:30:00 Europe/Paris"]),
    ("*/30 2 * * *", "Europe/Paris", ["*-*-* 02:00/30:00 Europe/Paris"]),
]


@pytest.mark.parametrize("expression, zone, expected", CALENDARS, ids=[c[0] for c in CALENDARS])
def test_on_calendar(expression, zone, expected):
    from runner.exports.systemd import on_calendar

    assert on_calendar(cron_fields(expression), zone) == expected


@pytest.mark.parametrize(
    "expression, zone, base",
    [
        (expression, zone, base)
        for expression, zone, _ in CALENDARS
        for base in ("2026-03-27 12:00:00", "2026-10-24 12:00:00", "2026-07-01 00:00:00")
    ],
)
def test_systemd_fires_when_the_runner_would(expression, zone, base):
    """systemd's own reading of each OnCalendar= against the runner's fire times, across
    the spring and fall changes of offset in Europe (and in summer)."""
    analyze = systemd_analyze()
    from runner.exports.systemd import on_calendar

    start = datetime.fromisoformat(base).replace(tzinfo=UTC)
    expected = CronSchedule(expression, zone).next_times(start, 12)
    elapses: set[datetime] = set()
    for event in on_calendar(cron_fields(expression), zone):
        result = subprocess.run(
            [analyze, "calendar", "--iterations=12", f"--base-time={base} UTC", event],
            capture_output=True,
            text=True,
            env={**os.environ, "TZ": "UTC", "LC_ALL": "C"},
            check=True,
        )
        for stamp in re.findall(r"(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) UTC", result.stdout):
            elapses.add(datetime.fromisoformat(stamp).replace(tzinfo=UTC))
    assert sorted(elapses)[:12] == [moment.astimezone(UTC) for moment in expected]


def test_systemd_units_verify(project, capsys, tmp_path):
    analyze = systemd_analyze()
    scheduled(project)
    folder = tmp_path / "units"
    # the runner's own path: systemd-analyze verify wants an ExecStart= that exists
    code = main(["export", "systemd", "--output", str(folder)])
    _, err = capsys.readouterr()
    assert code == 0
    assert sorted(path.name for path in folder.iterdir()) == [
        "runbook-paris.service",
        "runbook-paris.timer",
        "runbook-quarter.service",
        "runbook-quarter.timer",
    ]
    result = subprocess.run(
        [analyze, "verify", *sorted(str(path) for path in folder.iterdir())],
        capture_output=True,
        text=True,
        cwd=folder,
    )
    assert (result.returncode, result.stderr) == (0, "")
    timer = (folder / "runbook-paris.timer").read_text()
    assert "OnCalendar=Mon,Tue,Wed,Thu,Fri *-*-* 02:30:00 Europe/Paris\n" in timer
    assert "RandomizedDelaySec=120s\nPersistent=true\n" in timer
    assert "Persistent=false\n" in (folder / "runbook-quarter.timer").read_text()
    service = (folder / "runbook-paris.service").read_text()
    assert "Type=oneshot\n" in service and "TimeoutStartSec=330s\n" in service
    assert err.splitlines() == [
        "runbook export systemd: paris: catchup: all cannot be expressed by systemd: Persistent=true runs the missed elapses once (as catchup: latest)",
        "runbook export systemd: paris: concurrency: wait cannot be expressed by systemd: a timer does not start its service while it runs, so an overlapping run is skipped",
    ]


# -- kubernetes --------------------------------------------------------------------------


def test_kubernetes_cronjobs_validate(project, capsys):
    import kubernetes_validate

    project.config(
        "connections:\n  main: {sqlite: data.db}\n"
        'state: {odbc: "DRIVER={PostgreSQL Unicode};SERVER=${PGHOST};UID=${PGUSER};PWD=${PGPASSWORD}"}\n'
    )
    scheduled(project)
    code, out, err = export(
        project,
        capsys,
        "kubernetes",
        "--image",
        "registry.example/runbook:1",
        "--secret",
        "ops-runbook",
    )
    assert code == 0
    documents = list(yaml.safe_load_all(out))
    for document in documents:
        kubernetes_validate.validate(document, "1.37", strict=True)
    paris, quarter = documents
    assert paris["metadata"]["name"] == "runbook-paris"
    assert paris["spec"] | {"jobTemplate": None} == {
        "schedule": "30 2 * * 1-5",
        "timeZone": "Europe/Paris",
        "concurrencyPolicy": "Allow",  # wait: the runner waits on the lock
        "startingDeadlineSeconds": 86400,  # catchup_window
        "successfulJobsHistoryLimit": 3,
        "failedJobsHistoryLimit": 3,
        "jobTemplate": None,
    }
    job = paris["spec"]["jobTemplate"]["spec"]
    assert job["activeDeadlineSeconds"] == 330
    container = job["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.example/runbook:1"
    assert container["args"] == ["run", "paris", "--trigger", "schedule"]
    assert [entry["name"] for entry in container["env"]] == ["PGHOST", "PGUSER", "PGPASSWORD"]
    assert container["env"][2]["valueFrom"] == {
        "secretKeyRef": {"name": "ops-runbook", "key": "PGPASSWORD"}
    }
    assert quarter["spec"]["concurrencyPolicy"] == "Forbid"
    # catchup: none: on time, or within the grace (a tenth of 15m, at least 5m)
    assert quarter["spec"]["startingDeadlineSeconds"] == 300
    assert err == [
        "runbook export kubernetes: paris: jitter: 2m cannot be expressed by a CronJob: its runs start on time",
        "runbook export kubernetes: paris: catchup: all cannot be expressed by a CronJob: it starts the latest missed run only (as catchup: latest)",
    ]


def test_kubernetes_says_a_sqlite_store_is_lost_with_the_pod(project, capsys):
    scheduled(project)
    code, out, err = export(project, capsys, "kubernetes", "quarter")
    assert code == 0
    assert "env:" not in out and "secretRef" in out
    assert err[-1].startswith("runbook export kubernetes: the state store is a SQLite file")


def test_kubernetes_names_are_dns_subdomains(project, capsys):
    import kubernetes_validate

    project.runbook("under", "runbook: orders_nightly.check\nschedule: '0 1 * * *'\n" + STEPS)
    long = "a" * 60
    project.runbook("long1", f"runbook: {long}-1\nschedule: '0 1 * * *'\n" + STEPS)
    project.runbook("long2", f"runbook: {long}-2\nschedule: '0 1 * * *'\n" + STEPS)
    project.runbook("dash", "runbook: ends-\nschedule: '0 1 * * *'\n" + STEPS)
    code, out, err = export(project, capsys, "kubernetes")
    documents = list(yaml.safe_load_all(out))
    for document in documents:
        kubernetes_validate.validate(document, "1.37", strict=True)
    assert [d["metadata"]["name"] for d in documents] == [
        "runbook-" + "a" * 44,
        "runbook-ends",
        "runbook-orders-nightly.check",
    ]
    assert [d["metadata"]["annotations"]["runbook-runner/runbook"] for d in documents] == [
        f"{long}-1",
        "ends-",
        "orders_nightly.check",
    ]
    assert code == 1
    assert err[0] == (
        f"runbook export kubernetes: {long}-2: not exported: its CronJob would be named "
        f"runbook-{'a' * 44}, as {long}-1's is"
    )


# -- windows -----------------------------------------------------------------------------

NS = {"t": "http://schemas.microsoft.com/windows/2004/02/mit/task"}
# The task schema's shapes that the export writes (taskschedulerschema): elements in a
# sequence must come in this order; the ones marked required must be there.
SEQUENCES = {
    "CalendarTrigger": (
        [
            "Enabled",
            "StartBoundary",
            "EndBoundary",
            "Repetition",
            "ExecutionTimeLimit",
            "RandomDelay",
            "ScheduleByDay|ScheduleByWeek|ScheduleByMonth|ScheduleByMonthDayOfWeek",
        ],
        {"ScheduleByDay|ScheduleByWeek|ScheduleByMonth|ScheduleByMonthDayOfWeek"},
    ),
    "Repetition": (["Interval", "Duration", "StopAtDurationEnd"], {"Interval"}),
    "ScheduleByDay": (["DaysInterval"], set()),
    "ScheduleByWeek": (["WeeksInterval", "DaysOfWeek"], set()),
    "ScheduleByMonth": (["DaysOfMonth", "Months"], set()),
    "Exec": (["Command", "Arguments", "WorkingDirectory"], {"Command"}),
}
# xs:all: any order, each at most once
ALL = {
    "Task": (
        {"RegistrationInfo", "Triggers", "Settings", "Data", "Principals", "Actions"},
        {"Actions"},
    ),
    "Settings": (
        {
            "AllowStartOnDemand",
            "RestartOnFailure",
            "MultipleInstancesPolicy",
            "DisallowStartIfOnBatteries",
            "StopIfGoingOnBatteries",
            "AllowHardTerminate",
            "StartWhenAvailable",
            "NetworkProfileName",
            "RunOnlyIfNetworkAvailable",
            "WakeToRun",
            "Enabled",
            "Hidden",
            "DeleteExpiredTaskAfter",
            "IdleSettings",
            "NetworkSettings",
            "ExecutionTimeLimit",
            "Priority",
            "RunOnlyIfIdle",
        },
        set(),
    ),
}
DURATION = re.compile(r"^P(?:\d+D)?(?:T(?:\d+H)?(?:\d+M)?(?:\d+S)?)?$")


def local(element: ET.Element) -> str:
    return element.tag.split("}", 1)[1]


def check_structure(element: ET.Element) -> None:
    name = local(element)
    children = [local(child) for child in element]
    if name in SEQUENCES:
        order, required = SEQUENCES[name]
        positions = []
        for child in children:
            slot = next(i for i, names in enumerate(order) if child in names.split("|"))
            positions.append(slot)
        assert positions == sorted(positions) and len(set(positions)) == len(positions), (
            name,
            children,
        )
        for needed in required:
            assert any(child in needed.split("|") for child in children), (name, needed)
    if name in ALL:
        allowed, required = ALL[name]
        assert set(children) <= allowed and len(children) == len(set(children)), (name, children)
        assert required <= set(children), (name, children)
    for child in element:
        check_structure(child)


def windows_tasks(
    project, capsys, tmp_path, *names: str
) -> tuple[int, dict[str, ET.Element], list[str]]:
    folder = tmp_path / "tasks"
    code = main(
        [
            "export",
            "windows",
            *names,
            "--output",
            str(folder),
            "--command",
            "C:\\runbook\\runbook.exe",
        ]
    )
    _, err = capsys.readouterr()
    tasks = {}
    for path in sorted(folder.iterdir()):
        raw = path.read_bytes()
        assert raw.startswith(b"\xff\xfe")  # UTF-16 with its byte order mark
        assert raw.decode("utf-16").startswith('<?xml version="1.0" encoding="UTF-16"?>')
        tasks[path.name] = ET.fromstring(raw)
    return code, tasks, err.splitlines()


def test_windows_tasks_follow_the_task_schema(project, capsys, tmp_path):
    scheduled(project)
    project.runbook("either", "runbook: either\nschedule: '0 9 13 * 5'\n" + STEPS)
    code, tasks, err = windows_tasks(project, capsys, tmp_path)
    assert code == 0
    assert sorted(tasks) == ["runbook-either.xml", "runbook-paris.xml", "runbook-quarter.xml"]
    for task in tasks.values():
        assert task.tag == f"{{{NS['t']}}}Task" and task.get("version") == "1.2"
        check_structure(task)
        for element in task.iter():
            if local(element) in ("Interval", "Duration", "RandomDelay", "ExecutionTimeLimit"):
                assert DURATION.match(element.text or ""), element.text
    paris = tasks["runbook-paris.xml"]
    assert paris.findtext("t:Settings/t:MultipleInstancesPolicy", namespaces=NS) == "Queue"
    assert paris.findtext("t:Settings/t:StartWhenAvailable", namespaces=NS) == "true"
    assert paris.findtext("t:Settings/t:ExecutionTimeLimit", namespaces=NS) == "PT330S"
    trigger = paris.find("t:Triggers/t:CalendarTrigger", NS)
    assert trigger.findtext("t:StartBoundary", namespaces=NS) == "2026-01-01T02:30:00"
    assert trigger.findtext("t:RandomDelay", namespaces=NS) == "PT120S"
    days = [local(day) for day in trigger.find("t:ScheduleByWeek/t:DaysOfWeek", NS)]
    assert days == ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]
    assert paris.findtext("t:Actions/t:Exec/t:Command", namespaces=NS) == "C:\\runbook\\runbook.exe"
    assert paris.findtext("t:Actions/t:Exec/t:Arguments", namespaces=NS).endswith(
        "run paris --trigger schedule"
    )
    quarter = tasks["runbook-quarter.xml"]
    assert quarter.findtext("t:Settings/t:MultipleInstancesPolicy", namespaces=NS) == "IgnoreNew"
    assert quarter.findtext("t:Settings/t:StartWhenAvailable", namespaces=NS) == "false"
    (trigger,) = quarter.findall("t:Triggers/t:CalendarTrigger", NS)
    assert trigger.findtext("t:StartBoundary", namespaces=NS) == "2026-01-01T00:00:00Z"  # UTC
    assert trigger.findtext("t:Repetition/t:Interval", namespaces=NS) == "PT15M"
    # cron fires on the 13th or on a Friday: a monthly and a weekly trigger
    either = tasks["runbook-either.xml"]
    kinds = [local(t[-1]) for t in either.findall("t:Triggers/t:CalendarTrigger", NS)]
    assert kinds == ["ScheduleByMonth", "ScheduleByWeek"]
    assert err == [
        "runbook export windows: paris: Task Scheduler has no time zones: the times are the machine's local time, which must be Europe/Paris",
        "runbook export windows: paris: catchup: all cannot be expressed by Task Scheduler: StartWhenAvailable runs a missed run once (as catchup: latest)",
    ]


@pytest.mark.parametrize(
    "schedule, reason",
    [
        (
            "*/7 * * * *",
            "216 times a day, not evenly spaced, would need a trigger each (at most 32)",
        ),
        (
            "0 9 * 1-3 1",
            "days of the week in some months only cannot be written as Task Scheduler triggers",
        ),
    ],
)
def test_windows_refuses_what_triggers_cannot_say(project, capsys, tmp_path, schedule, reason):
    project.runbook("odd", f"runbook: odd\nschedule: '{schedule}'\n" + STEPS)
    code, tasks, err = windows_tasks(project, capsys, tmp_path, "odd")
    assert (code, tasks) == (1, {})
    assert err == [f"runbook export windows: odd: not exported: {reason}"]


def test_the_parser_offers_every_target():
    from runner.cli.arguments import EXPORT_TARGETS
    from runner.exports import TARGETS

    assert tuple(TARGETS) == EXPORT_TARGETS


def trigger_times(task: ET.Element, start: datetime, days: int) -> list[datetime]:
    """When a task's calendar triggers fire over `days` days from `start` (UTC), as the
    task schema describes them: the day kinds, the start time, the repetition."""
    from datetime import timedelta

    weekday_names = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
    month_names = [
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
    ]
    fired = set()
    for trigger in task.findall("t:Triggers/t:CalendarTrigger", NS):
        boundary = datetime.fromisoformat(trigger.findtext("t:StartBoundary", namespaces=NS))
        every = trigger.findtext("t:Repetition/t:Interval", namespaces=NS)
        lasting = trigger.findtext("t:Repetition/t:Duration", namespaces=NS)
        schedule = trigger[-1]
        for offset in range(days):
            day = start + timedelta(days=offset)
            kind = local(schedule)
            if kind == "ScheduleByWeek":
                allowed = {local(d) for d in schedule.find("t:DaysOfWeek", NS)}
                if weekday_names[day.weekday()] not in allowed:
                    continue
            elif kind == "ScheduleByMonth":
                allowed_days = {int(d.text) for d in schedule.find("t:DaysOfMonth", NS)}
                allowed_months = {local(m) for m in schedule.find("t:Months", NS)}
                if day.day not in allowed_days or month_names[day.month - 1] not in allowed_months:
                    continue
            first = day.replace(hour=boundary.hour, minute=boundary.minute)
            fired.add(first)
            if every:
                step = timedelta(minutes=int(every[2:-1]))
                end = first + timedelta(minutes=int(lasting[2:-1]))
                moment = first + step
                while moment < end:
                    fired.add(moment)
                    moment += step
    return sorted(fired)


@pytest.mark.parametrize(
    "schedule",
    [
        "*/15 * * * *",
        "0 9 13 * 5",
        "5,35 */6 1,15 * *",
        "0 9-17/2 * JAN-MAR *",
        "30 2 * * 1-5",
        "0 0 1 */2 *",
        "0,20,40 8-10 * * 0,6",
    ],
)
def test_windows_triggers_fire_when_the_runner_would(project, capsys, tmp_path, schedule):
    """The triggers, read as the task schema describes them, give the runner's own fire
    times of a UTC schedule over the first quarter of 2026."""
    project.runbook("t", f"runbook: t\nschedule: '{schedule}'\n" + STEPS)
    code, tasks, _ = windows_tasks(project, capsys, tmp_path, "t")
    assert code == 0
    start = datetime(2026, 1, 1, tzinfo=UTC)
    fired = trigger_times(tasks["runbook-t.xml"], start, 90)
    from datetime import timedelta

    expected = list(
        CronSchedule(schedule).between(
            start - timedelta(seconds=1), start + timedelta(days=90) - timedelta(seconds=1)
        )
    )
    assert fired == expected
