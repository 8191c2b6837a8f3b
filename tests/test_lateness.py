"""Late detection (runner/schedule/lateness.py): a scheduled runbook whose last due slot
has no run, whoever was meant to start it. The rule on an injected clock; `runbook
status` in text, json and nagios over a real SQLite store."""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from runner.base.status import Status
from runner.history.store import StateStore, new_run_id
from runner.language.results import RunResult
from runner.schedule.cron import CronSchedule
from runner.schedule.lateness import Late, late


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


HOURLY = CronSchedule("0 * * * *")
GRACE = 360.0  # a tenth of the hour


@pytest.mark.parametrize(
    ("now", "slot"),
    [
        ("2026-12-01T10:00:00", "2026-12-01T10:00:00"),  # at a fire time: that one
        ("2026-12-01T10:59:59.999", "2026-12-01T10:00:00"),
        ("2026-12-01T09:59:59.999", "2026-12-01T09:00:00"),
    ],
)
def test_last_at_or_before_is_the_newest_fire_time_not_after_the_moment(now, slot):
    assert HOURLY.last_at_or_before(at(now)) == at(slot)


def test_last_at_or_before_passes_over_a_skipped_hour_and_a_repeated_one():
    paris = CronSchedule("30 2 * * *", "Europe/Paris")

    # 29 March 2026: 02:00 to 03:00 does not exist in Paris; the slot is the day before's
    def slot(now: str) -> datetime | None:
        found = paris.last_at_or_before(at(now))
        # in UTC: an ambiguous time never compares equal across zones (PEP 495)
        return found.astimezone(UTC) if found is not None else None

    assert slot("2026-03-29T10:00:00") == at("2026-03-28T01:30:00")
    # 25 October 2026: 02:30 comes twice; its first pass (00:30 UTC) is the slot, once
    assert slot("2026-10-25T01:45:00") == at("2026-10-25T00:30:00")
    assert slot("2026-10-25T00:29:00") == at("2026-10-24T00:30:00")


def test_a_slot_with_a_run_at_or_after_it_is_on_time():
    now = at("2026-12-01T10:30:00")
    assert late(HOURLY, GRACE, now, (at("2026-12-01T10:00:00"), False)) is None
    assert late(HOURLY, GRACE, now, (at("2026-12-01T10:02:13"), False)) is None


def test_a_due_slot_without_a_run_is_late_with_the_slot_and_the_last_start():
    now = at("2026-12-01T10:30:00")
    found = late(HOURLY, GRACE, now, (at("2026-12-01T09:00:04"), False))
    assert found == Late(at("2026-12-01T10:00:00"), GRACE, at("2026-12-01T09:00:04"))
    assert found.as_dict() == {
        "slot": "2026-12-01T10:00:00.000Z",
        "grace": 360.0,
        "last_started": "2026-12-01T09:00:04.000Z",
        "never_ran": False,
    }


def test_within_the_grace_the_previous_slot_is_the_one_that_counts():
    last = (at("2026-12-01T09:00:04"), False)
    assert late(HOURLY, GRACE, at("2026-12-01T10:05:59"), last) is None
    assert late(HOURLY, GRACE, at("2026-12-01T10:06:00"), last) is not None


def test_a_run_still_going_holds_its_slot():
    assert late(HOURLY, GRACE, at("2026-12-01T12:30:00"), (at("2026-12-01T09:00:00"), True)) is None


def test_a_runbook_that_never_ran_is_late_only_for_slots_after_it_was_written():
    now = at("2026-12-01T10:30:00")
    assert late(HOURLY, GRACE, now, None, since=at("2026-12-01T10:20:00")) is None
    found = late(HOURLY, GRACE, now, None, since=at("2026-12-01T09:50:00"))
    assert found is not None and found.as_dict()["never_ran"] is True
    assert late(HOURLY, GRACE, now, None) == Late(at("2026-12-01T10:00:00"), GRACE, None)


# -- `runbook status` over a real store: the real clock, runs placed around it -------------

BOOK = """runbook: {name}
schedule: "*/10 * * * *"
connection: db
steps:
  - id: one
    sql: SELECT 1 AS n
"""


@pytest.fixture
def books(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Four runbooks every 10 minutes (grace 5 minutes): one ran just now, one two hours
    ago, one never ran and was written a day ago, one never ran and was written now."""
    (tmp_path / "runner.yaml").write_text(
        "state: {sqlite: var/runner.db}\nconnections:\n  db: {sqlite: var/db.sqlite}\n"
        "runbooks: [runbooks]\n",
        encoding="utf-8",
    )
    books = tmp_path / "runbooks"
    books.mkdir()
    for name in ("fresh", "stale", "forgotten", "new"):
        (books / f"{name}.yaml").write_text(BOOK.format(name=name), encoding="utf-8")
    day_ago = (datetime.now(UTC) - timedelta(days=1)).timestamp()
    for name in ("fresh", "stale", "forgotten"):
        os.utime(books / f"{name}.yaml", (day_ago, day_ago))
    now = datetime.now(UTC)
    (tmp_path / "var").mkdir()
    with StateStore(tmp_path / "var" / "runner.db") as store:
        for name, started in (("fresh", now), ("stale", now - timedelta(hours=2))):
            store.finish_run(RunResult(new_run_id(), name, status=Status.OK, started=started))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RUNBOOK_CONFIG", raising=False)
    return tmp_path


def status(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str]:
    from runner.cli import main

    code = main(["status", *args])
    return code, capsys.readouterr().out


def test_status_json_has_a_late_object_for_each_late_runbook(books, capsys):
    code, out = status(capsys, "--format", "json")
    rows = {row["runbook"]: row for row in json.loads(out)}
    assert rows["fresh"]["late"] is None and rows["new"]["late"] is None
    stale, forgotten = rows["stale"]["late"], rows["forgotten"]["late"]
    assert stale["never_ran"] is False and stale["grace"] == 300.0
    assert stale["last_started"] == rows["stale"]["started"]
    assert forgotten["never_ran"] is True and forgotten["last_started"] is None
    slot = datetime.fromisoformat(stale["slot"].replace("Z", "+00:00"))
    assert timedelta(minutes=5) <= datetime.now(UTC) - slot < timedelta(minutes=15)
    assert slot.minute % 10 == 0 and forgotten["slot"] == stale["slot"]
    assert [row["runbook"] for row in json.loads(out)][:2] == ["forgotten", "stale"]
    assert code == 2  # late is CRITICAL, though every run that ran was OK


def test_status_text_marks_the_late_runbooks(books, capsys):
    code, out = status(capsys)
    late = [line for line in out.splitlines() if line.startswith("LATE ")]
    assert len(late) == 2
    assert re.fullmatch(
        r"LATE forgotten: never ran, slot \d{4}-\d\d-\d\dT\d\d:\d0Z missed", late[0]
    )
    assert re.fullmatch(r"LATE stale: slot \d{4}-\d\d-\d\dT\d\d:\d0Z missed", late[1])
    assert out.splitlines()[-1] == "4 runbooks, 0 not OK, 2 LATE"
    assert code == 2


def test_status_nagios_is_a_meta_check_critical_on_any_late_runbook(books, capsys):
    code, out = status(capsys, "--format", "nagios")
    first = out.splitlines()[0]
    assert first.startswith("RUNBOOK STATUS CRITICAL - 2 late: forgotten (never ran, slot ")
    assert re.search(r", stale \(slot \S+Z missed\) \|", first)
    assert "| late=2;;0;0 not_ok=0;;;0 runbooks=4;;;0" in first
    assert out.splitlines()[1].startswith("LATE forgotten: never ran")
    assert code == 2


def test_status_nagios_is_ok_when_every_schedule_ran(books, capsys):
    (books / "runbooks" / "stale.yaml").unlink()
    (books / "runbooks" / "forgotten.yaml").unlink()
    code, out = status(capsys, "--format", "nagios")
    assert out.startswith("RUNBOOK STATUS OK - 2 runbooks OK or never run, 2 scheduled, none late")
    assert code == 0


# -- `late:` tags: the scheduler announces a late runbook once, and its recovery once -----

LATE_BOOK = """
runbook: nightly
schedule: "0 * * * *"
connection: main
notify: {late: [ops]}
steps:
  - id: one
    sql: SELECT 1 AS one
"""


@pytest.fixture
def announced(project):
    """A project whose hourly runbook `nightly` routes `late:` to a real webhook, last run
    at 09:00 (by cron, say: no slot recorded)."""
    from test_announce import Webhook

    hook = Webhook()
    project.config(
        "connections:\n  main: {sqlite: data.db}\nstate: var/runner.db\n"
        f"notifications:\n  urls:\n    ops: [{hook.url('ok')}]\n  attempts: 1\n"
    )
    path = project.runbook("nightly", LATE_BOOK)
    day_ago = at("2026-11-30T00:00:00").timestamp()
    os.utime(path, (day_ago, day_ago))
    with StateStore(project.root / "var" / "runner.db") as store:
        store.finish_run(RunResult(new_run_id(), "nightly", started=at("2026-12-01T09:00:00")))
    yield project, hook
    hook.close()


def scheduler_at(project, moment: str):
    from runner.service.scheduler import Scheduler

    said: list[str] = []
    now = [at(moment)]
    scheduler = Scheduler(project.service(), clock=lambda: now[0], log=said.append)
    return scheduler, now, said


def test_the_scheduler_announces_a_late_runbook_once_and_its_recovery_once(announced):
    project, hook = announced
    scheduler, now, said = scheduler_at(project, "2026-12-01T10:05:00")
    scheduler.tick(now[0])  # the 10:00 slot is not due yet: 6 minutes of grace
    assert hook.titles("ok") == []
    for moment in ("2026-12-01T10:07:00", "2026-12-01T10:09:00", "2026-12-01T10:30:00"):
        now[0] = at(moment)
        scheduler.tick(now[0])
    assert hook.titles("ok") == ["LATE nightly: its 2026-12-01T10:00Z run did not happen"]
    assert "never" not in hook.messages("ok")[0] and "09:00:00" in hook.messages("ok")[0]
    # a restarted scheduler (or another host) knows it was told: the store keeps it
    again, now2, _ = scheduler_at(project, "2026-12-01T10:40:00")
    again.tick(now2[0])
    assert len(hook.titles("ok")) == 1
    # cron runs it at last: on time again, said once
    with StateStore(project.root / "var" / "runner.db") as store:
        store.finish_run(RunResult(new_run_id(), "nightly", started=at("2026-12-01T10:45:00")))
    for moment in ("2026-12-01T10:50:00", "2026-12-01T10:52:00"):
        now[0] = at(moment)
        scheduler.tick(now[0])
    assert hook.titles("ok")[1:] == ["ON TIME nightly: it runs again"]
    with StateStore(project.root / "var" / "runner.db") as store:
        kinds = [row["kind"] for row in store.deliveries(runbook="nightly")]
    assert sorted(kinds) == ["late", "on_time"]
    assert any("nightly: late sent" in line for line in said)


def test_a_late_message_nobody_heard_is_said_again_at_the_next_look(announced):
    project, hook = announced
    hook.down = True
    scheduler, now, said = scheduler_at(project, "2026-12-01T10:07:00")
    scheduler.tick(now[0])
    assert any("nightly: late not sent" in line for line in said)
    hook.down = False
    now[0] = at("2026-12-01T10:08:00")
    scheduler.tick(now[0])
    titles = hook.titles("ok")
    assert titles == [titles[0]] * 2 and titles[0].startswith("LATE nightly")  # failed, then heard
    now[0] = at("2026-12-01T10:09:30")
    scheduler.tick(now[0])
    assert len(hook.titles("ok")) == 2


def test_status_keeps_each_due_slot_until_the_next_fire_time_is_due(tmp_path):
    """`runbook status` takes a due slot from var/cache while the fire times kept after
    it are not all due (croniter is not loaded then), and works it out again once they
    are."""
    from runner.cli.store import _DueSlots

    timing = {"timezone": None, "grace": GRACE}
    first = _DueSlots(at("2026-12-01T10:30:00"), tmp_path)
    assert first.late("0 * * * *", timing, None, None)["slot"] == "2026-12-01T10:00:00.000Z"
    first.save()
    key = "0 * * * *\x00None\x00360.0"
    kept = json.loads((tmp_path / "due-slots.json").read_text())
    slots = [at("2026-12-01T10:00:00") + timedelta(hours=hour) for hour in range(25)]
    assert kept == {key: [slot.isoformat() for slot in slots]}  # the due one, a day ahead
    # a kept fire time is taken as it is: written here as 15:00:01 to tell it apart
    kept[key][5] = "2026-12-01T15:00:01+00:00"
    (tmp_path / "due-slots.json").write_text(json.dumps(kept))
    hours_on = _DueSlots(at("2026-12-01T15:30:00"), tmp_path)
    assert hours_on.late("0 * * * *", timing, None, None)["slot"] == "2026-12-01T15:00:01.000Z"
    # a kept slot is taken as it is: written here as 10:00 and 10:00:01 to tell it apart
    kept[key] = ["2026-12-01T10:00:01+00:00", "2026-12-01T11:00:00+00:00"]
    (tmp_path / "due-slots.json").write_text(json.dumps(kept))
    again = _DueSlots(at("2026-12-01T11:05:59"), tmp_path)
    assert again.late("0 * * * *", timing, None, None)["slot"] == "2026-12-01T10:00:01.000Z"
    later = _DueSlots(at("2026-12-01T11:06:00"), tmp_path)  # 11:00 is due: worked out
    assert later.late("0 * * * *", timing, None, None)["slot"] == "2026-12-01T11:00:00.000Z"
    back = _DueSlots(at("2026-12-01T09:30:00"), tmp_path)  # the clock went back
    assert back.late("0 * * * *", timing, None, None)["slot"] == "2026-12-01T09:00:00.000Z"
