"""A state store that fails (issue 10, points 1 and 2): the run still answers.

- A damaged store (a malformed page) refuses `run`, `status` and `history` with the
  file and what to do, exit 3, and `run` answers UNKNOWN on stdout.
- A store that cannot be written (immutable, a full disk) lets the run go on: its
  status, its exit code, a line that says it was not recorded and why; the record waits
  in var/spool/ (or goes to stderr as JSON when even that fails) and the next run that
  can write records it, once.
- A full disk where the run lock lives: the lock holds without its details, and when
  not even the lock file can be made the run is refused with a clear message.

The disks are real: tmpfs mounts of a few kilobytes, and `chattr +i`. Where this
machine forbids them the tests skip, except in CI (CI=true), where they must run.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest

from runner.cli import main

GAUGE = """
runbook: gauge
kind: health-check
connection: main
inputs:
  n: {type: integer, default: 1}
  token: {type: string, secret: true, default: hunter2-secret}
steps:
  - id: one
    sql: SELECT {{ inputs.n }} AS n, {{ inputs.token }} AS token
    thresholds:
      n: {warning: 5, critical: 10}
  - id: bulk
    sql: >-
      WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 60)
      SELECT i, printf('%.400c', 'x') AS pad FROM r
"""

pytestmark = pytest.mark.integration  # real mounts and attributes: never skipped in CI


def _root_only(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"{' '.join(command)} is not permitted here: {done.stderr.strip()}")


@pytest.fixture
def gauge(project: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.delenv("RUNBOOK_TRIGGER", raising=False)
    project.runbook("gauge", GAUGE)
    return project


@pytest.fixture
def var(gauge: Any) -> Iterator[Path]:
    """The project's var/ (state store, locks, spool) on a tmpfs of 512 KB."""
    folder = gauge.root / "var"
    folder.mkdir()
    _root_only(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(folder)])
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def _fill(folder: Path, leave: int) -> Path:
    """Fill the file system of `folder` but `leave` bytes (in 4 KB pages)."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        with suppress(OSError):
            while True:
                os.write(fd, b"\0" * 4096)
        os.ftruncate(fd, max(os.fstat(fd).st_size - leave, 0))
    finally:
        os.close(fd)
    return filler


def _runs(state: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(state) as db:
        return db.execute("SELECT run_id, status FROM runs ORDER BY run_id").fetchall()


def _run(capsys: Any, *args: str) -> tuple[int, str, str]:
    code = main(["run", "gauge", *args])
    out, err = capsys.readouterr()
    return code, out, err


# -- a damaged store ----------------------------------------------------------------------


def _damage(state: Path) -> None:
    """Garbage over the first bytes of the `runs` table's root page."""
    with sqlite3.connect(state) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        root = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'runs'").fetchone()[0]
        size = db.execute("PRAGMA page_size").fetchone()[0]
    with state.open("r+b") as file:
        file.seek((root - 1) * size)
        file.write(b"\xff" * 64)


def damaged_message(state: Path) -> str:
    return (
        f"{state}: the state store is damaged (database disk image is malformed); restore "
        f"it from a backup, or move it aside (mv {state} {state}.damaged) and the next run "
        "starts a new one; `runbook doctor` checks it"
    )


def test_a_malformed_page_is_said_with_the_file_and_what_to_do(gauge: Any, capsys: Any) -> None:
    state = gauge.root / "var" / "runner.db"
    assert _run(capsys)[0] == 0  # the store is made, and checked today
    _damage(state)
    message = damaged_message(state)
    code, out, err = _run(capsys, "--format", "nagios")
    assert (code, out, err) == (3, f"GAUGE UNKNOWN - invalid: {message}\n", f"runbook: {message}\n")
    code, out, err = _run(capsys, "--format", "json")
    answer = json.loads(out)
    assert (code, answer["outcome"], answer["status"], answer["error"]) == (
        3,
        "invalid",
        "UNKNOWN",
        message,
    )
    assert _run(capsys, "--format", "text")[1] == f"gauge: UNKNOWN - invalid: {message}\n"
    for command in (["status"], ["history"]):
        assert main(command) == 3
        out, err = capsys.readouterr()
        # The last line is the one that stopped it (a line before may say what else the
        # damage kept from being done).
        assert (out, err.splitlines()[-1]) == ("", f"runbook: {message}")
    # Moved aside, as the message says: the next run starts a new store.
    state.rename(state.with_name("runner.db.damaged"))
    for extra in ("-wal", "-shm"):
        state.with_name("runner.db" + extra).unlink(missing_ok=True)
    assert _run(capsys)[0] == 0
    assert len(_runs(state)) == 1


def test_a_store_damaged_after_the_steps_ran_keeps_the_result(
    gauge: Any, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from runner.history.faults import damaged
    from runner.history.store import StateStore

    state = gauge.root / "var" / "runner.db"

    def malformed(self: Any, run: Any, deliveries: Any, claim: Any = None) -> bool:
        raise damaged(str(state), "database disk image is malformed")

    monkeypatch.setattr(StateStore, "record_finished", malformed)
    code, out, err = _run(capsys, "--param", "n=12", "--format", "nagios")
    assert code == 2  # the run's own status: CRITICAL
    lines = out.splitlines()
    assert lines[0].startswith("GAUGE CRITICAL - n = 12 > critical 10")
    (kept,) = (state.parent / "spool").glob("*.json")
    note = (
        f"the run was not recorded: {damaged_message(state)}; its record is kept in {kept} "
        "until a run can write the store"
    )
    assert lines[-1] == note
    assert err == f"runbook: {note}\n"
    record = json.loads(kept.read_text())
    assert (record["run"]["status"], record["reason"]) == ("CRITICAL", damaged_message(state))
    assert "hunter2-secret" not in kept.read_text()  # masked like the store


# -- an immutable store -------------------------------------------------------------------


@pytest.fixture
def immutable(gauge: Any, capsys: Any) -> Iterator[Path]:
    state = gauge.root / "var" / "runner.db"
    assert _run(capsys)[0] == 0
    _root_only(["chattr", "+i", str(state)])
    try:
        yield state
    finally:
        subprocess.run(["chattr", "-i", str(state)], check=False)


READONLY = "cannot write to the state store: attempt to write a readonly database"


@pytest.mark.parametrize("fmt", ["nagios", "json", "text"])
def test_an_immutable_store_still_answers_with_the_runs_status(
    immutable: Path, capsys: Any, fmt: str
) -> None:
    code, out, err = _run(capsys, "--param", "n=7", "--format", fmt)
    (kept,) = (immutable.parent / "spool").glob("*.json")
    run_id = kept.stem
    reason = f"{immutable}: {READONLY}"
    note = (
        f"the run was not recorded: {reason}; its record is kept in {kept} until a run can "
        "write the store"
    )
    assert (code, err) == (1, f"runbook: {note}\n")  # WARNING, as the steps said
    if fmt == "nagios":
        assert out.splitlines()[0].split(" | ")[0] == "GAUGE WARNING - n = 7 > warning 5"
        assert out.splitlines()[-1] == note
    elif fmt == "json":
        answer = json.loads(out)
        assert (answer["run_id"], answer["status"], answer["not_recorded"]) == (
            run_id,
            "WARNING",
            note,
        )
    else:
        assert out.splitlines()[-1] == f"not recorded: {reason}; its record is kept in {kept} " + (
            "until a run can write the store"
        )
    assert [row[0] for row in _runs(immutable)] != [] and run_id not in dict(_runs(immutable))


def test_the_next_run_that_can_write_records_the_spool_once(immutable: Path, capsys: Any) -> None:
    assert _run(capsys, "--param", "n=7")[0] == 1
    spool = immutable.parent / "spool"
    (kept,) = spool.glob("*.json")
    copy = kept.read_bytes()
    # Still immutable: the next run cannot record the spool either, and says so.
    code, _, err = _run(capsys)
    assert code == 0
    assert (
        f"runbook: the runs kept in {spool} were not recorded yet: {immutable}: {READONLY}\n"
        in (err)
    )
    assert len(list(spool.glob("*.json"))) == 2
    subprocess.run(["chattr", "-i", str(immutable)], check=True)
    before = len(_runs(immutable))
    code, _, err = _run(capsys)
    assert (code, err) == (0, "")
    runs = dict(_runs(immutable))
    assert len(runs) == before + 3  # the two spooled, and this one
    assert runs[kept.stem] == "WARNING"
    assert list(spool.glob("*")) == []
    # The same record spooled again (a crash between recording and removing): not doubled.
    kept.write_bytes(copy)
    assert _run(capsys)[0] == 0
    assert len(_runs(immutable)) == before + 4
    assert list(spool.glob("*")) == []
    shown = json.loads(subprocess_free_history(capsys, kept.stem))
    assert (shown["status"], [step["id"] for step in shown["steps"]]) == (
        "WARNING",
        ["one", "bulk"],
    )


def subprocess_free_history(capsys: Any, run_id: str) -> str:
    assert main(["history", "--run", run_id, "--format", "json"]) == 0
    return str(capsys.readouterr().out)


def test_a_spool_file_that_cannot_be_read_is_set_aside(gauge: Any, capsys: Any) -> None:
    spool = gauge.root / "var" / "spool"
    spool.mkdir(parents=True)
    (spool / "20261130T000000Z-000000000000.json").write_text('{"spool_version": 1, "run": ')
    code, out, err = _run(capsys, "--format", "nagios")
    bad = spool / "20261130T000000Z-000000000000.json"
    assert (code, out.split(" | ")[0]) == (0, "GAUGE OK - all 2 checks OK")
    assert err == (
        f"runbook: spool: {bad}: cannot be read (Expecting value: line 1 column 29 (char 28)); "
        f"moved aside to {bad}.bad\n"
    )
    assert [path.name for path in spool.iterdir()] == [bad.name + ".bad"]
    assert _run(capsys)[2] == ""  # said once: the file set aside is not read again


# -- a full disk ----------------------------------------------------------------------------


@pytest.mark.parametrize("leave", [0, 4096, 16384, 65536, 131072])
def test_a_full_disk_never_costs_the_answer_nor_the_record(
    gauge: Any, var: Path, capsys: Any, leave: int
) -> None:
    """Whatever room is left where the store lives, the run answers with its status and
    its record is in the store, in the spool or on stderr; freed, the next run has it."""
    state = var / "runner.db"
    assert _run(capsys)[0] == 0  # a store with the tables made, then the disk fills
    filler = _fill(var, leave)
    code, out, err = _run(capsys, "--param", "n=12", "--format", "json")
    answer = json.loads(out)
    assert (code, answer["status"], answer["outcome"]) == (2, "CRITICAL", "completed")
    run_id = answer["run_id"]
    note = answer.get("not_recorded")
    spooled = var / "spool" / f"{run_id}.json"
    if note is None:  # there was room for it all
        assert err == "" and dict(_runs(state))[run_id] == "CRITICAL"
    elif spooled.exists():
        assert note.endswith(f"its record is kept in {spooled} until a run can write the store")
        assert err == f"runbook: {note}\n"
    else:
        assert note.startswith(f"the run was not recorded: {state}: ")
        assert note.endswith(
            f"its record could not be kept in {var / 'spool'} either (No space left on "
            "device) and was written to stderr as JSON"
        )
        record = json.loads(err.splitlines()[0])
        assert (record["run"]["run_id"], record["run"]["status"]) == (run_id, "CRITICAL")
        assert "hunter2-secret" not in err
        assert err.splitlines()[1] == f"runbook: {note}"
    if note is not None:
        assert "database or disk is full" in note or "No space left" in note
    filler.unlink()
    assert _run(capsys)[0] == 0
    runs = dict(_runs(state))
    if note is None or spooled.exists():  # recorded then, or from the spool now
        assert runs[run_id] == "CRITICAL"
    assert list(var.glob("spool/*.json")) == []


def test_a_disk_full_before_the_first_run_still_answers(gauge: Any, var: Path, capsys: Any) -> None:
    filler = _fill(var, 0)
    code, out, err = _run(capsys, "--format", "nagios")
    state = var / "runner.db"
    lines = out.splitlines()
    assert code == 0
    assert lines[0].split(" | ")[0] == "GAUGE OK - all 2 checks OK"
    assert lines[1].startswith(f"the run was not recorded: {state}: cannot ")
    assert "database or disk is full" in lines[1] or "No space left on device" in lines[1]
    record = json.loads(err.splitlines()[0])  # not even the spool had room: on stderr
    assert record["run"]["status"] == "OK" and "hunter2-secret" not in err
    filler.unlink()
    code, out, err = _run(capsys, "--format", "nagios")
    assert (code, out.split(" | ")[0], err) == (0, "GAUGE OK - all 2 checks OK", "")
    assert len(_runs(state)) == 1  # this one: the first was only ever on stderr


def test_no_room_for_the_lock_file_is_a_clear_unknown(gauge: Any, capsys: Any) -> None:
    var = gauge.root / "var"
    var.mkdir()
    # room for the first run's store, WAL files, lock file and var/cache (entries and
    # kept models); then every inode left is taken
    _root_only(["mount", "-t", "tmpfs", "-o", "size=512k,nr_inodes=32", "tmpfs", str(var)])
    try:
        assert _run(capsys)[0] == 0  # the store, its WAL files and the lock file: made
        (var / "locks" / "gauge.lock").unlink()
        made = 0
        try:
            while True:
                (var / f"inode{made}").touch()
                made += 1
        except OSError:
            pass
        code, out, err = _run(capsys, "--format", "nagios")
        message = (
            f"{var / 'locks'}: cannot take the run lock of gauge: No space left on device "
            "(a run must be able to make its lock file there; `runbook doctor` says what to fix)"
        )
        assert (code, out, err) == (
            3,
            f"GAUGE UNKNOWN - invalid: {message}\n",
            f"runbook: {message}\n",
        )
    finally:
        subprocess.run(["umount", "-l", str(var)], check=False)


def test_a_read_only_var_still_answers(gauge: Any, var: Path, capsys: Any) -> None:
    """var/ remounted read-only (a full root file system often ends so): the lock holds
    on the file an earlier run made, the run answers, and its record goes to stderr."""
    assert _run(capsys)[0] == 0
    _root_only(["mount", "-o", "remount,ro", str(var)])
    code, out, err = _run(capsys, "--param", "n=7", "--format", "nagios")
    state = var / "runner.db"
    lines = out.splitlines()
    assert code == 1
    assert lines[0].split(" | ")[0] == "GAUGE WARNING - n = 7 > warning 5"
    assert lines[-1].startswith(f"the run was not recorded: {state}: cannot ")
    assert lines[-1].endswith(
        f"its record could not be kept in {var / 'spool'} either (Read-only file system) "
        "and was written to stderr as JSON"
    )
    record = json.loads(err.splitlines()[0])
    assert record["run"]["status"] == "WARNING"
    assert err.splitlines()[1] == f"runbook: {lines[-1]}"
    subprocess.run(["mount", "-o", "remount,rw", str(var)], check=True)
    assert record["run"]["run_id"] not in dict(_runs(state))
    code, _, err = _run(capsys)
    assert (code, err) == (0, "")
    assert len(_runs(state)) == 2  # the first and this one: the read-only one is on stderr


def test_chattr_and_mount_exist() -> None:
    """The tools these tests use; missing ones would make every test above skip."""
    assert shutil.which("chattr") and shutil.which("mount")


def test_a_spooled_end_completes_a_start_left_running_or_abandoned(tmp_path: Path) -> None:
    """The disk filled between the start record and the end: the row says `running` (or
    `abandoned`, once a later run noticed the process gone); the spool's end replaces it."""
    from datetime import UTC, datetime

    from runner.base.masking import Masker
    from runner.base.status import Status
    from runner.history.spool import import_spool, spool_record, write_spool
    from runner.history.store import StateStore
    from runner.language.results import RunResult

    state, spool = tmp_path / "runner.db", tmp_path / "spool"
    started = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    runs = [RunResult(f"20261130T090000Z-00000000000{n}", "gauge", started=started) for n in (1, 2)]
    with StateStore(state) as store:
        for run in runs:
            store.start_run(run)
        store._backend.execute(
            "UPDATE runs SET outcome = 'abandoned' WHERE run_id = ?", (runs[1].run_id,)
        )
        for run in runs:
            run.status, run.ended = Status.WARNING, started
            write_spool(spool, spool_record(run, [], "disk full", Masker()))
        done = import_spool(spool, store)
        assert (done.recorded, done.present, done.notes) == ([r.run_id for r in runs], [], [])
        assert [(row["outcome"], row["status"]) for row in store.history()] == [
            ("completed", "WARNING"),
            ("completed", "WARNING"),
        ]
    assert list(spool.iterdir()) == []


def test_the_nagios_note_stays_within_max_output(immutable: Path, capsys: Any) -> None:
    code, out, _ = _run(capsys, "--param", "n=7", "--format", "nagios", "--max-output", "200")
    lines = out.splitlines()
    assert code == 1 and len(out.rstrip("\n").encode()) <= 200
    assert lines[0].startswith("GAUGE WARNING - n = 7 > warning 5")
    assert lines[-1].startswith("the run was not recorded: ") and lines[-1].endswith("...")
