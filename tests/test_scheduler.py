"""`runbook scheduler` (runner/service/scheduler.py): which slots run, when, how often and
with what trigger, driven by a fake clock over real runbook files and a real SQLite
store; and the daemon as a real process, stopped by SIGTERM."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from integration.conftest import postgres  # noqa: F401 - the session's PostgreSQL database

from runner.service.scheduler import Scheduler
from runner.service.slots import jitter_delay, missed_to_run

QUICK = """
runbook: {name}
schedule: "{schedule}"
catchup: {catchup}
catchup_window: {window}
jitter: {jitter}
connection: main
steps:
  - id: one
    sql: SELECT 1 AS one
"""

# Counts until the run's abort (or its 60 s timeout) ends it.
ENDLESS = """
runbook: {name}
schedule: "* * * * *"
concurrency: {concurrency}
connection: main
steps:
  - id: spin
    timeout: 60s
    sql: |
      WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c)
      SELECT count(*) AS n FROM c
"""


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def quick(
    project: Any,
    name: str = "tick",
    schedule: str = "*/10 * * * *",
    catchup: str = "latest",
    window: str = "24h",
    jitter: str = "0s",
) -> None:
    text = QUICK.format(name=name, schedule=schedule, catchup=catchup, window=window, jitter=jitter)
    project.runbook(name, text)


class FakeClock:
    """The scheduler's time: sleep() lets the runs going end, then moves time on (no real
    waiting); the scheduler is stopped once time reaches `until`."""

    def __init__(self, start: datetime, until: datetime | None = None) -> None:
        self.moment = start
        self.until = until
        self.scheduler: Scheduler | None = None
        self.jumps: dict[datetime, timedelta] = {}  # at this moment, time leaps (a sleep)

    def now(self) -> datetime:
        return self.moment

    def sleep(self, seconds: float) -> None:
        assert self.scheduler is not None
        idle(self.scheduler)
        leap = self.jumps.pop(self.moment, None)
        self.moment += leap if leap is not None else timedelta(seconds=max(seconds, 0.001))
        if self.until is not None and self.moment >= self.until:
            self.scheduler.stop()


def idle(scheduler: Scheduler, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while scheduler._running():
        assert time.monotonic() < end, "the runs did not end"
        time.sleep(0.01)


def until(condition: Any, timeout: float = 30.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "it did not happen"
        time.sleep(0.01)


def make(project: Any, clock: FakeClock, **options: Any) -> tuple[Scheduler, list[str]]:
    said: list[str] = []
    scheduler = Scheduler(
        project.service(), clock=clock.now, sleep=clock.sleep, log=said.append, **options
    )
    clock.scheduler = scheduler
    return scheduler, said


def runs(project: Any, runbook: str | None = None) -> list[tuple[str, str, str | None, str]]:
    """(runbook, trigger, slot, outcome) of every recorded run, by slot."""
    path = project.root / "var" / "runner.db"
    if not path.exists():
        return []
    with sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True) as db:
        try:
            rows = db.execute(
                "SELECT runbook, trigger, slot, outcome FROM runs ORDER BY slot, started"
            ).fetchall()
        except sqlite3.OperationalError:  # not made yet
            return []
    return [row for row in rows if runbook is None or row[0] == runbook]


def slot_text(moment: str) -> str:
    return at(moment).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def once_at(project: Any, moment: str, **options: Any) -> list[str]:
    """A scheduler started at `moment` that ticks once and waits for what it started."""
    clock = FakeClock(at(moment))
    scheduler, said = make(project, clock, **options)
    scheduler.tick(clock.now())
    scheduler.run_due(clock.now())
    return said


# -- on time ---------------------------------------------------------------------------


def test_each_slot_runs_once_on_time_with_trigger_schedule_and_its_slot(project: Any) -> None:
    quick(project)
    clock = FakeClock(at("2026-06-01T09:59:30"), until=at("2026-06-01T10:31:00"))
    scheduler, said = make(project, clock)
    scheduler.serve()
    assert runs(project) == [
        ("tick", "schedule", slot_text(f"2026-06-01T10:{minute}"), "completed")
        for minute in ("00", "10", "20", "30")
    ]
    assert any("tick: scheduled '*/10 * * * *' in UTC" in line for line in said)
    assert said[-1].endswith("runbook scheduler: stopped")


def test_a_schedule_in_a_zone_runs_on_its_wall_clock_across_a_change_of_offset(
    project: Any,
) -> None:
    """Europe/Paris falls back on 2026-10-25: 02:30 local comes twice and runs once."""
    project.runbook(
        "night",
        """
        runbook: night
        schedule: "30 2 * * *"
        timezone: Europe/Paris
        connection: main
        steps:
          - {id: one, sql: SELECT 1 AS one}
        """,
    )
    clock = FakeClock(at("2026-10-24T00:00"), until=at("2026-10-26T12:00"))
    scheduler, _ = make(project, clock, rescan_every=3600.0)  # ticks at slots and hours
    scheduler.serve()
    assert [row[2] for row in runs(project)] == [
        slot_text("2026-10-24T00:30"),  # 02:30 CEST
        slot_text("2026-10-25T00:30"),  # 02:30 CEST, the first pass only
        slot_text("2026-10-26T01:30"),  # 02:30 CET
    ]


def test_a_time_the_clock_jumps_over_does_not_run(project: Any) -> None:
    """Europe/Paris springs forward on 2026-03-29: there is no 02:30 that night."""
    project.runbook(
        "night",
        """
        runbook: night
        schedule: "30 2 * * *"
        timezone: Europe/Paris
        connection: main
        steps:
          - {id: one, sql: SELECT 1 AS one}
        """,
    )
    clock = FakeClock(at("2026-03-28T00:00"), until=at("2026-03-30T12:00"))
    scheduler, _ = make(project, clock, rescan_every=3600.0)
    scheduler.serve()
    assert [row[1:3] for row in runs(project)] == [
        ("schedule", slot_text("2026-03-28T01:30")),  # 02:30 CET
        ("schedule", slot_text("2026-03-30T00:30")),  # 02:30 CEST; none on the 29th
    ]


def test_a_scheduled_runs_json_has_its_slot_and_fits_the_schema(project: Any) -> None:
    import json
    from pathlib import Path

    import jsonschema

    from runner.reports.render import render_run
    from runner.service.runs import RunRequest

    quick(project)
    request = RunRequest("tick", trigger="schedule", slot=at("2026-06-01T10:00"))
    document = json.loads(render_run(project.service().run(request), "json"))
    assert (document["trigger"], document["slot"]) == ("schedule", "2026-06-01T10:00:00.000Z")
    path = Path(__file__).resolve().parent.parent / "schemas" / "run-result.schema.json"
    schema = json.loads(path.read_text(encoding="utf-8"))
    narrowed = {**schema, "anyOf": [{"$ref": "#/$defs/run"}]}
    jsonschema.Draft202012Validator(narrowed).validate(document)
    manual = json.loads(render_run(project.run("tick"), "json"))
    assert "slot" not in manual  # other runs' JSON is as it was


def test_jitter_is_inside_the_span_and_the_same_for_the_same_slot() -> None:
    slot = at("2026-06-01T10:00")
    delays = [jitter_delay("tick", slot + timedelta(minutes=m), 120.0) for m in range(50)]
    assert all(0 <= delay < 120 for delay in delays)
    assert len(set(delays)) == 50  # spread
    assert jitter_delay("tick", slot, 120.0) == delays[0]  # deterministic
    assert jitter_delay("tock", slot, 120.0) != delays[0]  # per runbook
    assert jitter_delay("tick", slot, 0.0) == 0.0


def test_a_jittered_run_waits_for_its_delay(project: Any) -> None:
    quick(project, jitter="5m")
    delay = jitter_delay("tick", at("2026-06-01T10:00"), 300.0)
    clock = FakeClock(at("2026-06-01T10:00:01"))
    scheduler, _ = make(project, clock)
    scheduler.tick(clock.now())
    [due] = scheduler.queue
    assert due.start == at("2026-06-01T10:00") + timedelta(seconds=delay)
    scheduler.tick(due.start - timedelta(seconds=0.5))
    assert scheduler.queue and not runs(project)  # not yet
    scheduler.tick(due.start)
    scheduler.run_due(due.start)
    assert runs(project) == [("tick", "schedule", slot_text("2026-06-01T10:00"), "completed")]


def test_at_most_max_parallel_runs_go_at_once(project: Any) -> None:
    for name in ("a", "b", "c"):
        quick(project, name=name)
    clock = FakeClock(at("2026-06-01T10:00:01"))
    scheduler, _ = make(project, clock, max_parallel=1)
    scheduler.tick(clock.now())
    assert len(scheduler.queue) == 2  # one started, two wait for its place
    scheduler.run_due(clock.now())
    assert sorted(row[0] for row in runs(project)) == ["a", "b", "c"]


def test_max_parallel_defaults_to_runner_yaml(project: Any) -> None:
    project.config(
        "connections:\n  main: {sqlite: data.db}\nstate: var/runner.db\n"
        "scheduler: {max_parallel: 7, shutdown_grace: 2m}\n"
    )
    scheduler, _ = make(project, FakeClock(at("2026-06-01T10:00")))
    assert (scheduler.max_parallel, scheduler.shutdown_grace) == (7, 120.0)
    scheduler, _ = make(project, FakeClock(at("2026-06-01T10:00")), max_parallel=2)
    assert scheduler.max_parallel == 2


# -- concurrency -------------------------------------------------------------------------


@pytest.mark.parametrize("concurrency", ["skip", "wait", "allow"])
def test_the_runbooks_concurrency_decides_a_slot_due_while_it_runs(
    project: Any, concurrency: str
) -> None:
    project.runbook("endless", ENDLESS.format(name="endless", concurrency=concurrency))
    clock = FakeClock(at("2026-06-01T10:00:01"))
    scheduler, _ = make(project, clock)
    scheduler.tick(at("2026-06-01T10:00:01"))  # the 10:00 run starts, and spins
    until(lambda: [row[3] for row in runs(project)] == ["running"])  # it holds the lock
    scheduler.tick(at("2026-06-01T10:01:01"))  # 10:01 is due while it runs
    if concurrency == "skip":  # handed to the run service, which records it skipped
        until(lambda: len(scheduler._running()) == 1)
        assert ("endless", "schedule", slot_text("2026-06-01T10:01"), "skipped") in runs(project)
    elif concurrency == "wait":
        assert [due.slot for due in scheduler.queue] == [at("2026-06-01T10:01")]
        assert len(scheduler._running()) == 1
    else:
        assert len(scheduler._running()) == 2 and not scheduler.queue
    scheduler.stop()
    scheduler.shutdown_grace = 0.0
    scheduler.drain()
    outcomes = {row[2]: row[3] for row in runs(project)}
    assert outcomes[slot_text("2026-06-01T10:00")] == "aborted"
    expected = {"skip": "skipped", "wait": None, "allow": "aborted"}[concurrency]
    assert outcomes.get(slot_text("2026-06-01T10:01")) == expected


# -- catch-up ----------------------------------------------------------------------------


@pytest.mark.parametrize(("catchup", "caught"), [("all", 10), ("latest", 1), ("none", 0)])
def test_down_for_ten_slots(project: Any, catchup: str, caught: int) -> None:
    quick(project, catchup=catchup)
    once_at(project, "2026-06-01T10:00:05")  # runs 10:00, then the scheduler is down
    said = once_at(project, "2026-06-01T11:45")  # 10:10 ... 11:40 were missed
    missed = [slot_text(f"2026-06-01T{h}:{m}0") for h in ("10", "11") for m in range(6)][1:11]
    rows = runs(project)
    assert rows[0] == ("tick", "schedule", slot_text("2026-06-01T10:00"), "completed")
    assert len(missed) == 10
    expected = {"all": missed, "latest": missed[-1:], "none": []}[catchup]
    assert rows[1:] == [("tick", "catchup", slot, "completed") for slot in expected]
    assert len(expected) == caught
    if caught < 10:
        assert any(f"{10 - caught} missed slot(s) not run" in line for line in said)


def test_missed_slots_older_than_the_window_are_not_caught_up(project: Any) -> None:
    quick(project, catchup="all", window="1h")
    once_at(project, "2026-06-01T10:00:05")
    once_at(project, "2026-06-01T11:45")
    caught = [row[2] for row in runs(project) if row[1] == "catchup"]
    assert caught == [
        slot_text(f"2026-06-01T{t}") for t in ("10:50", "11:00", "11:10", "11:20", "11:30", "11:40")
    ]


def test_a_slot_due_now_is_the_latest_and_no_missed_one_runs_beside_it(project: Any) -> None:
    quick(project, catchup="latest")
    once_at(project, "2026-06-01T10:00:05")
    once_at(project, "2026-06-01T11:50:10")
    assert [row[1:3] for row in runs(project)] == [
        ("schedule", slot_text("2026-06-01T10:00")),
        ("schedule", slot_text("2026-06-01T11:50")),
    ]


def test_a_runbook_never_run_by_a_scheduler_catches_nothing_up(project: Any) -> None:
    quick(project, catchup="all")
    once_at(project, "2026-06-01T11:45")
    assert runs(project) == []


def test_the_host_sleeping_is_caught_up_when_it_wakes(project: Any) -> None:
    quick(project, catchup="latest")
    clock = FakeClock(at("2026-06-01T09:59:30"), until=at("2026-06-01T13:01"))
    clock.jumps[at("2026-06-01T10:00")] = timedelta(hours=2, minutes=35)  # asleep
    scheduler, _ = make(project, clock)
    scheduler.serve()
    assert [row[1:3] for row in runs(project)] == [
        ("schedule", slot_text("2026-06-01T10:00")),
        ("catchup", slot_text("2026-06-01T12:30")),  # the latest of those slept through
        ("schedule", slot_text("2026-06-01T12:40")),
        ("schedule", slot_text("2026-06-01T12:50")),
        ("schedule", slot_text("2026-06-01T13:00")),
    ]


def test_the_clock_going_back_runs_no_slot_twice(project: Any) -> None:
    quick(project)
    clock = FakeClock(at("2026-06-01T10:00:05"))
    scheduler, _ = make(project, clock)
    for moment in ("10:00:05", "10:10:05", "09:55:00", "10:10:30", "10:20:01"):
        scheduler.tick(at(f"2026-06-01T{moment}"))
        scheduler.run_due(at(f"2026-06-01T{moment}"))
    assert [row[2] for row in runs(project)] == [
        slot_text(f"2026-06-01T10:{minute}") for minute in ("00", "10", "20")
    ]


def test_missed_to_run() -> None:
    missed = [at("2026-06-01T10:10"), at("2026-06-01T10:20")]
    assert missed_to_run("all", missed, on_time=True) == missed
    assert missed_to_run("latest", missed, on_time=False) == missed[-1:]
    assert missed_to_run("latest", missed, on_time=True) == []
    assert missed_to_run("none", missed, on_time=False) == []


# -- files added, changed, removed -------------------------------------------------------


def test_runbook_files_are_picked_up_without_a_restart(project: Any) -> None:
    clock = FakeClock(at("2026-06-01T09:59:30"))
    scheduler, said = make(project, clock)
    scheduler.tick(clock.now())
    assert scheduler.entries == {}
    quick(project, name="late")  # added
    scheduler.tick(at("2026-06-01T10:00:01"))
    scheduler.run_due(at("2026-06-01T10:00:01"))
    assert [row[0] for row in runs(project)] == ["late"]

    quick(project, name="late", schedule="*/5 * * * *")  # changed
    os.utime(project.root / "runbooks" / "late.yaml", ns=(1, 1))
    scheduler.tick(at("2026-06-01T10:05:01"))
    scheduler.run_due(at("2026-06-01T10:05:01"))
    assert [row[2] for row in runs(project)][-1] == slot_text("2026-06-01T10:05")
    assert any("late: now scheduled '*/5 * * * *'" in line for line in said)

    (project.root / "runbooks" / "late.yaml").unlink()  # removed
    scheduler.tick(at("2026-06-01T10:10:01"))
    scheduler.run_due(at("2026-06-01T10:10:01"))
    assert len(runs(project)) == 2 and scheduler.entries == {}
    assert any("late: its file is gone" in line for line in said)


def test_a_change_that_does_not_validate_keeps_the_last_good_version(project: Any) -> None:
    quick(project)
    clock = FakeClock(at("2026-06-01T09:59:30"))
    scheduler, said = make(project, clock)
    scheduler.tick(clock.now())
    path = project.runbook(
        "tick",
        QUICK.format(
            name="tick", schedule="*/10 * * * *", catchup="latest", window="24h", jitter="0s"
        ).replace("sql: SELECT 1", "sqll: SELECT 1"),
    )
    os.utime(path, ns=(2, 2))
    for moment in ("10:00:01", "10:05:00", "10:10:01"):
        scheduler.tick(at(f"2026-06-01T{moment}"))
        scheduler.run_due(at(f"2026-06-01T{moment}"))
    assert [row[1:] for row in runs(project)] == [
        ("schedule", slot_text("2026-06-01T10:00"), "completed"),
        ("schedule", slot_text("2026-06-01T10:10"), "completed"),
    ]
    reported = [line for line in said if "does not validate" in line]
    assert len(reported) == 1 and "the last good version stays scheduled" in reported[0]


def test_an_invalid_new_runbook_is_reported_once_and_not_scheduled(project: Any) -> None:
    project.runbook("bad", 'runbook: bad\nschedule: "61 * * * *"\nsteps: []\n')
    clock = FakeClock(at("2026-06-01T09:59:30"))
    scheduler, said = make(project, clock)
    scheduler.tick(clock.now())
    scheduler.tick(at("2026-06-01T10:00:30"))
    assert scheduler.entries == {}
    assert len([line for line in said if "bad:" in line and "not scheduled until" in line]) == 1


# -- stopping ----------------------------------------------------------------------------


def test_stop_waits_for_the_grace_then_aborts_and_records_aborted(project: Any) -> None:
    project.runbook("endless", ENDLESS.format(name="endless", concurrency="skip"))
    clock = FakeClock(at("2026-06-01T10:00:01"))
    scheduler, said = make(project, clock, shutdown_grace=0.3)
    scheduler.tick(clock.now())
    started = time.monotonic()
    scheduler.stop("SIGTERM")
    scheduler.drain()
    assert 0.3 <= time.monotonic() - started < 20
    assert runs(project) == [("endless", "schedule", slot_text("2026-06-01T10:00"), "aborted")]
    assert any("waiting up to 0.3s for 1 running run(s)" in line for line in said)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def store_location(request: pytest.FixtureRequest, tmp_path: Any) -> Any:
    if request.param == "sqlite":
        yield tmp_path / "var" / "runner.db"
        return
    from test_state import postgres_schema

    yield from postgres_schema(request.getfixturevalue("postgres"))


def test_last_slots_on_each_store(store_location: Any) -> None:
    """Migration 7's slot column: the newest slot of each runbook, whatever the trigger
    or outcome of its run; runs without a slot (manual ones) do not count."""
    from runner.base.status import Status
    from runner.history.store import StateStore, new_run_id
    from runner.language.results import RunResult

    def run(runbook: str, slot: str | None, outcome: str = "completed") -> RunResult:
        return RunResult(
            run_id=new_run_id(),
            runbook=runbook,
            status=Status.OK,
            outcome=outcome,
            trigger="schedule" if slot else "manual",
            started=datetime.now(UTC),
            ended=datetime.now(UTC),
            slot=at(slot) if slot else None,
        )

    with StateStore(store_location) as store:
        for made in (
            run("a", "2026-06-01T10:00"),
            run("a", "2026-06-01T10:10", "aborted"),
            run("a", None),
            run("b", "2026-06-01T09:00", "skipped"),
            run("c", None),
        ):
            store.record_finished(made, [])
        assert store.last_slots() == {"a": at("2026-06-01T10:10"), "b": at("2026-06-01T09:00")}


def test_store_records_slot_and_last_slots(project: Any) -> None:
    from runner.history.store import open_store

    quick(project)
    once_at(project, "2026-06-01T10:00:05")
    with open_store(project.library().config) as store:
        assert store.last_slots() == {"tick": at("2026-06-01T10:00")}
        [row] = store.history("tick")
        assert "slot" not in row  # `runbook history` shows what it always showed


# -- the daemon as a process -------------------------------------------------------------


def _cli(project: Any, *args: str, **options: Any) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(project.root.parent)}
    env.pop("RUNBOOK_CONFIG", None)
    return subprocess.Popen(
        [sys.executable, "-m", "runner", "scheduler", *args],
        cwd=project.root,
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**env, **options},
    )


def test_the_daemon_stops_on_sigterm(project: Any) -> None:
    quick(project, schedule="* * * * *")
    process = _cli(project)
    assert process.stderr is not None
    lines = []
    for line in process.stderr:
        lines.append(line)
        if "tick: scheduled" in line:
            break
    process.send_signal(signal.SIGTERM)
    rest = process.communicate(timeout=30)[1]
    assert process.returncode == 0, rest
    assert "SIGTERM: stopping" in rest and rest.rstrip().endswith("runbook scheduler: stopped")


def test_the_daemon_serves_the_dashboard_with_http_and_stops_on_sigterm(project: Any) -> None:
    import re

    import requests

    quick(project, schedule="* * * * *")
    process = _cli(project, "--http", "127.0.0.1:0")
    assert process.stderr is not None
    lines = []
    for line in process.stderr:  # uvicorn says where it listens, its port chosen
        lines.append(line)
        if "Uvicorn running on" in line:
            break
    found = re.search(r"http://127\.0\.0\.1:(\d+)", "".join(lines))
    assert found, "".join(lines)
    url = f"http://127.0.0.1:{found[1]}"
    try:
        page = requests.get(url + "/", timeout=30)
        assert page.status_code == 200 and 'href="/runbooks/tick">tick</a>' in page.text
        metrics = requests.get(url + "/metrics", timeout=30)
        assert metrics.status_code == 200 and "runbook_" in metrics.text
        process.send_signal(signal.SIGTERM)
        rest = process.communicate(timeout=60)[1]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, rest
    assert "SIGTERM: stopping" in rest and "runbook scheduler: stopped" in rest
    assert '"GET /metrics HTTP/1.1" 200' in rest and "Traceback" not in rest


def test_the_daemon_once_catches_up_what_it_missed(project: Any) -> None:
    """A real process with the real clock: the store's last slot was 5 minutes ago, so
    `--once` runs the missed minutes (catchup: all), each once, and exits."""
    quick(project, schedule="* * * * *", catchup="all")
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    seed = now - timedelta(minutes=5)
    once_at(project, (seed + timedelta(seconds=1)).replace(tzinfo=None).isoformat())
    process = _cli(project, "--once")
    err = process.communicate(timeout=60)[1]
    assert process.returncode == 0, err
    rows = runs(project)
    slots = [datetime.fromisoformat(row[2]) for row in rows]
    assert slots[0] == seed and rows[0][1] == "schedule"
    assert slots == [seed + timedelta(minutes=n) for n in range(len(slots))]  # none doubled
    assert 5 <= len(slots) <= 7  # the minute may turn while the test runs
    assert {row[1] for row in rows[1:-1]} == {"catchup"}
    assert all(row[3] == "completed" for row in rows)


# -- the README's examples ---------------------------------------------------------------


def _readme_block(language: str, marker: str) -> str:
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    blocks = text.split(f"```{language}\n")[1:]
    found = [block.split("```", 1)[0] for block in blocks if marker in block]
    assert len(found) == 1, f"one {language} block with {marker!r} in the README"
    return found[0]


def test_the_readme_deployment_validates() -> None:
    import kubernetes_validate
    import yaml

    document = yaml.safe_load(_readme_block("yaml", "kind: Deployment"))
    kubernetes_validate.validate(document, "1.37", strict=True)
    [container] = document["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["scheduler"]


def test_the_readme_unit_runs_the_scheduler() -> None:
    unit = _readme_block("ini", "runbook scheduler")
    assert "ExecStart=/opt/runbooks/.venv/bin/runbook scheduler\n" in unit
    stop = int(unit.split("TimeoutStopSec=")[1].split()[0])
    assert stop > 60  # longer than the default shutdown grace: runs are aborted, not killed


def test_old_claims_are_forgotten_and_recent_ones_kept(project: Any) -> None:
    from runner.history.store import open_store

    def stored() -> set[str]:
        with open_store(project.library().config) as store:
            return {row["slot"] for row in store._backend.query("SELECT slot FROM claims")}

    quick(project, window="2h")
    clock = FakeClock(at("2026-06-01T10:00:05"))
    scheduler, _ = make(project, clock)
    scheduler.tick(clock.now())
    scheduler.run_due(clock.now())
    assert scheduler.claims.queued == {("tick", at("2026-06-01T10:00"))}
    assert stored() == {slot_text("2026-06-01T10:00")}
    scheduler.tick(at("2026-06-01T12:00:05"))  # within window + an hour: kept
    scheduler.run_due(at("2026-06-01T12:00:05"))
    assert ("tick", at("2026-06-01T10:00")) in scheduler.claims.queued
    assert slot_text("2026-06-01T10:00") in stored()
    scheduler.tick(at("2026-06-01T13:30:05"))
    scheduler.run_due(at("2026-06-01T13:30:05"))
    assert ("tick", at("2026-06-01T10:00")) not in scheduler.claims.queued
    assert ("tick", at("2026-06-01T13:30")) in scheduler.claims.queued
    assert stored() == {slot_text("2026-06-01T12:00"), slot_text("2026-06-01T13:30")}


def test_a_failing_tick_is_said_and_the_loop_goes_on(project: Any) -> None:
    quick(project)
    clock = FakeClock(at("2026-06-01T09:59:30"), until=at("2026-06-01T10:11"))
    scheduler, said = make(project, clock)
    rescan, failed = scheduler.rescan, []

    def failing_once(now: datetime) -> None:
        if not failed:
            failed.append(now)
            raise RuntimeError("the disk went away")
        rescan(now)

    scheduler.rescan = failing_once  # type: ignore[method-assign]
    scheduler.serve()
    assert any("this tick failed: RuntimeError: the disk went away" in line for line in said)
    assert [row[2] for row in runs(project)] == [
        slot_text("2026-06-01T10:00"),
        slot_text("2026-06-01T10:10"),
    ]


def test_the_daemon_aborts_a_run_after_the_grace_on_sigterm(project: Any) -> None:
    """A real process: a caught-up run that never ends, SIGTERM, --grace 0.5s: the run
    is aborted, recorded aborted with its trigger and slot, and the daemon exits 0.
    Hourly, at the minute of three minutes ago: a minutely schedule's next minute could
    come while the test runs and start a second run (then "2 running run(s)")."""
    from runner.base.status import Status
    from runner.history.store import StateStore, new_run_id
    from runner.language.results import RunResult

    missed = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=3)
    endless = ENDLESS.format(name="endless", concurrency="skip")
    project.runbook("endless", endless.replace('"* * * * *"', f'"{missed.minute} * * * *"'))
    seed = missed - timedelta(hours=1)  # the slot before: `missed` is caught up
    with StateStore(project.root / "var" / "runner.db") as store:
        store.record_finished(
            RunResult(
                run_id=new_run_id(),
                runbook="endless",
                status=Status.OK,
                trigger="schedule",
                started=seed,
                ended=seed,
                slot=seed,
            ),
            [],
        )
    process = _cli(project, "--grace", "0.5s")
    assert process.stderr is not None
    for line in process.stderr:
        if "endless" in line and ": started" in line:
            break
    process.send_signal(signal.SIGTERM)
    rest = process.communicate(timeout=60)[1]
    assert process.returncode == 0, rest
    assert "waiting up to 0.5s for 1 running run(s)" in rest
    [row] = [
        row for row in runs(project) if row[2] != slot_text(seed.replace(tzinfo=None).isoformat())
    ]
    assert row == (
        "endless",
        "catchup",
        slot_text(missed.replace(tzinfo=None).isoformat()),
        "aborted",
    )


def test_a_slot_is_claimed_once_on_each_store(store_location: Any) -> None:
    """Migration 8's claims: the first insert of (runbook, slot) goes in, a second (any
    host) does not; the claim says who has it; old claims are forgotten."""
    from runner.history.store import StateStore

    ten, eleven = at("2026-06-01T10:00"), at("2026-06-01T11:00")
    with StateStore(store_location) as store:
        took = at("2026-06-01T10:00:01")
        assert store.claim_slot("a", ten, host="web01", pid=7, at=took)
        assert not store.claim_slot("a", ten, host="web02", pid=8, at=took)
        assert not store.claim_slot("a", ten, host="web01", pid=7, at=took)
        assert store.claim_slot("b", ten, host="web02", pid=8, at=took)
        assert store.claim_slot("a", eleven, host="web02", pid=8, at=took)
        assert store.claim_of("a", ten) == {
            "host": "web01",
            "pid": 7,
            "claimed": "2026-06-01T10:00:01.000000Z",
        }
        assert store.claim_of("a", at("2026-06-01T12:00")) is None
        assert store.forget_claims(eleven) == 2
        assert store.claim_of("a", ten) is None and store.claim_of("a", eleven) is not None


def test_a_claim_is_taken_over_only_from_a_gone_claimant_on_each_store(
    store_location: Any,
) -> None:
    """The claimant of a slot without a run is gone when nothing shows it alive: on
    PostgreSQL no session named after it; on SQLite its pid dead on this host (another
    host's claim stands). The take-over is one conditional UPDATE: the first goes in,
    a second on the same old holder finds none."""
    from runner.base.hostname import hostname
    from runner.history.store import StateStore

    ten, took = at("2026-06-01T10:00"), at("2026-06-01T10:00:01")
    postgres_store = not isinstance(store_location, Path)
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    dead_pid = ended.pid
    with StateStore(store_location) as store:
        assert store.claim_slot("a", ten, host=hostname(), pid=dead_pid, at=took)
        holder = store.claim_of("a", ten)
        assert holder is not None and not store.slot_ran("a", ten)
        assert store.claim_gone("a", ten, holder)
        assert not store.claim_gone("a", ten, {**holder, "pid": None})
        alive = {**holder, "pid": os.getpid(), "claimed": "2026-06-01T10:00:01.000000Z"}
        if postgres_store:
            with StateStore(store_location) as other:  # a scheduler alive, elsewhere
                assert other.name_scheduler("web09", 77)
                assert not store.claim_gone("a", ten, {**holder, "host": "web09", "pid": 77})
        else:
            assert not store.claim_gone("a", ten, alive, alive=lambda pid, started: True)
            assert not store.claim_gone("a", ten, {**holder, "host": "elsewhere"})
        assert store.take_over_claim("a", ten, holder, host="web02", pid=8, at=took)
        assert not store.take_over_claim("a", ten, holder, host="web03", pid=9, at=took)
        assert store.claim_of("a", ten) == {
            "host": "web02",
            "pid": 8,
            "claimed": "2026-06-01T10:00:01.000000Z",
        }


def test_two_schedulers_on_one_sqlite_store_run_each_slot_once(project: Any) -> None:
    """A second scheduler started on the same host by mistake: the claim in the SQLite
    store lets one of them run each slot, and the other says who has it."""
    quick(project)
    clock = FakeClock(at("2026-06-01T10:00:05"))
    first, _ = make(project, clock)
    second, said = make(project, clock)
    # Both know the runbook before a slot is due, as two running daemons do. A second
    # that first read the store after the first's run of 10:00 was recorded would start
    # from that slot, rightly not queue it, and say "not run here" once, not twice.
    for scheduler in (first, second):
        scheduler.rescan(at("2026-06-01T10:00:05"))
    for moment in ("2026-06-01T10:00:05", "2026-06-01T10:10:05"):
        for scheduler in (first, second):
            scheduler.tick(at(moment))
        for scheduler in (first, second):
            scheduler.run_due(at(moment))
    assert runs(project) == [
        ("tick", "schedule", slot_text("2026-06-01T10:00"), "completed"),
        ("tick", "schedule", slot_text("2026-06-01T10:10"), "completed"),
    ]
    assert sum("; not run here" in line for line in said) == 2, said


def test_a_slot_claimed_by_a_dead_scheduler_on_this_host_is_taken_over(project: Any) -> None:
    """SQLite: a claim of this host whose pid is dead and whose slot has no run is taken
    over and run, said so; the same claim of a live pid is left alone."""
    from runner.base.hostname import hostname
    from runner.history.store import open_store

    quick(project)
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    with open_store(project.library().config) as store:
        # Claimed now: a process born after its claim would be another one (a reused pid).
        for slot, pid in (("2026-06-01T10:00", ended.pid), ("2026-06-01T10:10", os.getppid())):
            claimed = datetime.now(UTC)
            assert store.claim_slot("tick", at(slot), host=hostname(), pid=pid, at=claimed)
    clock = FakeClock(at("2026-06-01T10:00:05"))
    scheduler, said = make(project, clock)
    for moment in ("2026-06-01T10:00:05", "2026-06-01T10:10:05", "2026-06-01T10:10:35"):
        scheduler.tick(at(moment))
        scheduler.run_due(at(moment))
    assert runs(project) == [("tick", "schedule", slot_text("2026-06-01T10:00"), "completed")]
    assert sum(f"taken over from {hostname()} (pid {ended.pid})" in line for line in said) == 1
    assert sum(f"claimed by {hostname()} (pid {os.getppid()})" in line for line in said) == 1
