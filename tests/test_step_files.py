"""The files step on real folders, with real modification times set through os.utime."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from runner.base.status import Status
from runner.language.build import build_step
from runner.language.model import Step
from runner.reports.summary import rendered_summary, value_summary
from runner.steps import STEP_TYPES, executor
from runner.steps.context import StepContext
from runner.steps.files import MAX_NAMES, FilesStep

DAY = 86400


def write(folder: Path, name: str, age_days: float, size: int = 10) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    stamp = time.time() - age_days * DAY
    os.utime(path, (stamp, stamp))
    return path


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    folder = tmp_path / "logs"
    write(folder, "old.log", 40, 100)
    write(folder, "older.log", 90, 200)
    write(folder, "new.log", 1, 300)
    write(folder, "old.txt", 40)
    write(folder, "app/deep.log", 45, 50)
    write(folder, "app/fresh.log", 0)
    return folder


def step(**files: Any) -> Step:
    return build_step({"id": "clean", "files": files}, STEP_TYPES)


def run(config: Step, mode: str = "run", timeout: float = 30.0) -> dict[str, Any]:
    return FilesStep().run(config, StepContext(scope={}, timeout=timeout, mode=mode))


def names(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_registered_under_its_name() -> None:
    assert isinstance(executor("files"), FilesStep)


def test_lists_the_matching_files_older_than_the_duration(logs: Path) -> None:
    values = run(step(path=str(logs), glob="*.log", older_than="30d"))
    # old.log is the newer of the two: 40 days old (the fixture's mtimes), give or take
    # the seconds this test takes.
    assert 40 * 1440 - 1 <= values.pop("newest_minutes") <= 40 * 1440 + 1
    assert values == {
        "action": "list",
        "folder": str(logs),
        "count": 2,
        "bytes": 300,
        "files": ["old.log", "older.log"],
        "failed": 0,
        "errors": [],
    }
    assert len(names(logs)) == 6  # listing changes nothing


def test_two_stars_reach_into_subfolders_and_names_use_slashes(logs: Path) -> None:
    values = run(step(path=str(logs), glob="**/*.log", older_than="30d"))
    assert values["files"] == ["app/deep.log", "old.log", "older.log"]


def test_without_older_than_every_matching_file_counts(logs: Path) -> None:
    assert run(step(path=str(logs)))["files"] == ["new.log", "old.log", "old.txt", "older.log"]


def test_delete_removes_only_the_old_matching_files(logs: Path) -> None:
    values = run(step(path=str(logs), glob="**/*.log", older_than="30d", action="delete"))
    assert (values["count"], values["bytes"], values["failed"]) == (3, 350, 0)
    assert names(logs) == ["app/fresh.log", "new.log", "old.txt"]


def test_archive_moves_them_keeping_subfolders(logs: Path, tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    files = step(
        path=str(logs), glob="**/*.log", older_than="30d", action="archive", to=str(archive)
    )
    values = run(files)
    assert values["files"] == ["app/deep.log", "old.log", "older.log"]
    assert names(archive) == ["app/deep.log", "old.log", "older.log"]
    assert names(logs) == ["app/fresh.log", "new.log", "old.txt"]


def test_archive_never_overwrites_and_the_step_is_critical(logs: Path, tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    write(archive, "old.log", 0, 1)
    files = step(path=str(logs), glob="*.log", older_than="30d", action="archive", to=str(archive))
    values = run(files)
    assert values["files"] == ["older.log"]
    assert values["failed"] == 1
    assert values["errors"] == [f"old.log: already in {archive}, left where it is"]
    assert (archive / "old.log").read_bytes() == b"x"
    assert (logs / "old.log").exists()
    assert FilesStep().verdict(files, values) == (
        Status.CRITICAL,
        f"1 of 2 files could not be moved: old.log: already in {archive}, left where it is",
    )


def test_an_archive_inside_the_folder_is_not_archived_again(logs: Path) -> None:
    files = step(path=str(logs), glob="**/*.log", action="archive", to=str(logs / "archive"))
    assert run(files)["count"] == 5
    assert run(files)["count"] == 0


def test_rehearse_reports_what_would_happen_and_changes_nothing(logs: Path) -> None:
    files = step(path=str(logs), glob="*.log", older_than="30d", action="delete")
    values = run(files, mode="rehearse")
    assert values["rehearsed"] is True
    assert values["files"] == ["old.log", "older.log"]
    assert len(names(logs)) == 6
    assert FilesStep().summary(values) == "would delete 2 files (300 bytes)"


def test_dry_run_of_a_listing_describes_without_looking_at_the_disk(tmp_path: Path) -> None:
    files = step(path=str(tmp_path / "nowhere"), glob="*.log", older_than="30d")
    ctx = StepContext(scope={}, timeout=30.0, mode="dry-run")
    assert FilesStep().describe(files, ctx) == {
        "action": "list",
        "folder": str(tmp_path / "nowhere"),
        "glob": "*.log",
        "older_than": "30d",
    }
    assert run(files, mode="dry-run")["skipped"] is True


def test_dry_run_of_a_delete_lists_the_files_it_would_delete_and_changes_nothing(
    logs: Path, tmp_path: Path
) -> None:
    files = step(path=str(logs), glob="*.log", older_than="30d", action="delete")
    ctx = StepContext(scope={}, timeout=30.0, mode="dry-run")
    described = FilesStep().describe(files, ctx)
    assert (described["count"], described["files"]) == (2, ["old.log", "older.log"])
    assert len(names(logs)) == 6
    assert FilesStep().rendered_summary(described, "dry-run") == (
        f"would delete 2 files (300 bytes): *.log older than 30d in {logs}"
    )
    missing = step(path=str(tmp_path / "nowhere"), glob="*.log", action="delete")
    assert "does not exist" in FilesStep().describe(missing, ctx)["note"]


def test_a_glob_written_on_windows_means_the_same_here(logs: Path) -> None:
    assert run(step(path=str(logs), glob="app\\*.log"))["files"] == [
        "app/deep.log",
        "app/fresh.log",
    ]


def test_folders_and_symbolic_links_are_never_matched(logs: Path, tmp_path: Path) -> None:
    outside = write(tmp_path, "outside.log", 90)
    (logs / "link.log").symlink_to(outside)
    (logs / "dir.log").mkdir()
    values = run(step(path=str(logs), glob="*.log", action="delete"))
    assert values["files"] == ["new.log", "old.log", "older.log"]
    assert outside.exists() and (logs / "dir.log").is_dir()


def test_a_missing_folder_is_an_error_that_names_it(tmp_path: Path) -> None:
    from runner.base.errors import StepError

    with pytest.raises(StepError, match="does not exist"):
        run(step(path=str(tmp_path / "nope")))


def test_names_are_capped_but_every_file_is_counted(tmp_path: Path) -> None:
    for number in range(MAX_NAMES + 5):
        write(tmp_path, f"f{number:03d}.log", 0, 1)
    values = run(step(path=str(tmp_path)))
    assert (values["count"], len(values["files"])) == (MAX_NAMES + 5, MAX_NAMES)


def test_summaries() -> None:
    files = FilesStep()
    assert files.summary({"action": "list", "count": 0, "bytes": 0}) == "no files"
    assert files.summary({"action": "list", "count": 2, "bytes": 1536}) == "2 files (1.5 KiB)"
    assert files.summary({"action": "delete", "count": 1, "bytes": 5}) == "deleted 1 file (5 bytes)"
    assert files.summary({"action": "archive", "count": 0, "bytes": 0}) == "nothing to archive"
    assert files.rendered_summary(
        {"action": "delete", "folder": "/var/log", "glob": "*.log", "older_than": "30d"}, "dry-run"
    ) == ("would delete *.log older than 30d in /var/log")


# -- through a runbook -----------------------------------------------------------------------

RUNBOOK = """
runbook: clean
kind: maintenance
steps:
  - id: old_logs
    title: Delete logs older than 30 days
    files: {path: logs, glob: "*.log", older_than: 30d, action: delete}
"""


def test_a_relative_folder_starts_at_runner_yaml_and_reports_read_well(project, logs) -> None:
    project.runbook("clean", RUNBOOK)
    elsewhere = project.root / "elsewhere"
    elsewhere.mkdir()
    os.chdir(elsewhere)
    rehearsed = project.run("clean", mode="rehearse")
    assert len(names(logs)) == 6
    assert value_summary(rehearsed.steps[0]) == "would delete 2 files (300 bytes)"
    result = project.run("clean")
    assert str(result.status) == "OK"
    assert value_summary(result.steps[0]) == "deleted 2 files (300 bytes)"
    assert names(logs) == ["app/deep.log", "app/fresh.log", "new.log", "old.txt"]
    dry = project.run("clean", mode="dry-run")
    assert rendered_summary(dry.steps[0], "dry-run") == (
        f"no *.log older than 30d in {project.root / 'logs'}"
    )


def test_files_it_could_not_move_make_the_step_critical_unless_asserts_judge(project, logs) -> None:
    write(project.root / "archive", "old.log", 0)
    text = RUNBOOK.replace("action: delete", "action: archive, to: archive")
    project.runbook("clean", text)
    result = project.run("clean")
    assert (str(result.status), result.steps[0].outcome) == ("CRITICAL", "failed")
    assert result.steps[0].error == (
        f"1 of 2 files could not be moved: old.log: already in {project.root / 'archive'}, "
        "left where it is"
    )
    project.runbook("clean", text + "    assert: [failed <= 1]\n")
    assert str(project.run("clean").status) == "OK"


def test_validation_explains_what_is_wrong(project) -> None:
    project.runbook(
        "clean",
        """
        runbook: clean
        steps:
          - files: {path: logs, action: archive}
          - files: {path: logs, glob: ../other/*.log, to: old}
          - files: {path: logs, glob: "*.log", older_than: a month}
        """,
    )
    found = project.library().problems(project.root / "runbooks" / "clean.yaml")
    assert [p.format() for p in sorted(found, key=lambda p: (p.line, p.col))] == [
        "runbooks/clean.yaml:3:12: error: steps[0].files: action: archive needs `to:`, the folder "
        "the files are moved into (such as to: D:/logs/archive)",
        "runbooks/clean.yaml:4:31: error: steps[1].files.glob: the glob '../other/*.log' reaches "
        "outside the folder (write a pattern inside it, such as *.log or **/*.log, and the "
        "folder as path:)",
        "runbooks/clean.yaml:4:51: error: steps[1].files.to: `to:` is only used with action: archive",
        "runbooks/clean.yaml:5:52: error: steps[2].files.older_than: 'a month' is not a duration: "
        "write 30s, 5m, 1h30m or 2d",
    ]


def write_log(folder: Path, name: str, age_days: float, lines: list[str]) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    stamp = time.time() - age_days * DAY
    os.utime(path, (stamp, stamp))
    return path


def test_tail_reads_the_last_lines_of_the_newest_matching_file(tmp_path: Path) -> None:
    folder = tmp_path / "logs"
    write_log(folder, "a.log", 2, ["old 1", "old 2"])
    write_log(folder, "b.log", 0.5, [f"line {n}" for n in range(1, 8)])
    write_log(folder, "c.txt", 0, ["not a log"])
    values = run(step(path=str(folder), glob="*.log", tail=3))
    assert values["count"] == 2
    assert values["newest"] == "b.log"
    assert values["lines"] == ["line 5", "line 6", "line 7"]
    assert values["newest_age_minutes"] == 720
    assert "matched" not in values
    assert value_summary_of(values) == "2 files (61 bytes); newest b.log: last 3 lines"


def test_match_keeps_the_last_matching_lines_and_counts_them(tmp_path: Path) -> None:
    folder = tmp_path / "logs"
    body = [
        "INFO start",
        "ERROR one",
        "INFO x",
        "ERROR two",
        "WARNING w",
        "ERROR three",
        "INFO end",
    ]
    write_log(folder, "run.log", 0, body)
    values = run(step(path=str(folder), glob="*.log", tail=2, match="ERROR|WARN"))
    assert values["matched"] == 4
    assert values["lines"] == ["WARNING w", "ERROR three"]


def test_tail_with_no_matching_file_gives_empty_values(tmp_path: Path) -> None:
    (tmp_path / "logs").mkdir()
    values = run(step(path=str(tmp_path / "logs"), glob="*.log", tail=5, match="ERROR"))
    assert values["newest"] is None and values["lines"] == [] and values["matched"] == 0


def test_long_lines_are_cut(tmp_path: Path) -> None:
    write_log(tmp_path, "big.log", 0, ["E" * 5000])
    values = run(step(path=str(tmp_path), glob="*.log", tail=1))
    assert values["lines"] == ["E" * 1000]


def value_summary_of(values: dict[str, Any]) -> str | None:
    return FilesStep().summary(values)


def test_tail_and_match_are_validated(project) -> None:
    project.runbook(
        "read",
        """
        runbook: read
        steps:
          - files: {path: logs, action: delete, tail: 5}
          - files: {path: logs, match: ERROR}
          - files: {path: logs, tail: 5, match: "ERROR("}
          - files: {path: logs, tail: 0}
        """,
    )
    found = project.library().problems(project.root / "runbooks" / "read.yaml")
    messages = [p.format() for p in sorted(found, key=lambda p: (p.line, p.col))]
    assert messages[:3] == [
        "runbooks/read.yaml:3:47: error: steps[0].files.tail: `tail:` reads the newest file, "
        "which action: delete does not keep (read the logs in a step of its own with action: list)",
        "runbooks/read.yaml:4:32: error: steps[1].files.match: `match:` picks lines of the newest "
        "file, and needs `tail:` (such as tail: 50)",
        "runbooks/read.yaml:5:41: error: steps[2].files.match: match: 'ERROR(' is not a regular "
        "expression: missing ), unterminated subpattern at position 5",
    ]
    assert len(messages) == 4 and "steps[3].files.tail" in messages[3]


def test_older_than_may_be_a_template_of_a_duration(project, logs) -> None:
    """`older_than: "{{ inputs.keep_days }}d"`: rendered when the step runs; one that does
    not render to a duration fails the step, naming what it rendered from."""
    project.runbook(
        "clean",
        """
        runbook: clean
        inputs:
          keep_days: {type: integer, default: 30}
          age: {type: duration, default: 1h}
        steps:
          - id: by_days
            files: {path: logs, glob: "*.log", older_than: "{{ inputs.keep_days }}d"}
          - id: by_duration
            files: {path: logs, glob: "*.log", older_than: "{{ inputs.age }}"}
        """,
    )
    result = project.run("clean")
    assert result.steps[0].values["files"] == ["old.log", "older.log"]
    assert result.steps[1].values["files"] == ["new.log", "old.log", "older.log"]
    result = project.run("clean", {"keep_days": 60})
    assert result.steps[0].values["files"] == ["older.log"]
    dry = project.run("clean", {"keep_days": 60}, mode="dry-run")
    assert rendered_summary(dry.steps[0], "dry-run") == (
        f"would list *.log older than 60d in {project.root / 'logs'}"
    )
    project.runbook(
        "bad",
        """
        runbook: bad
        steps:
          - files: {path: logs, older_than: "{{ 'a month' }}"}
        """,
    )
    result = project.run("bad")
    assert str(result.status) == "CRITICAL"
    assert result.steps[0].error == (
        "older_than: 'a month' is not a duration: write a number with a unit, such as 30s, "
        "5m, 1h30m or 2d (rendered from \"{{ 'a month' }}\")"
    )


# -- keep_newest -------------------------------------------------------------------------------


@pytest.fixture
def backups(tmp_path: Path) -> Path:
    """Ten nightly backups, 12.5 days old down to 3.5 (the nightly backup stopped three
    days ago): six of them are older than 7 days."""
    folder = tmp_path / "backup"
    for day in range(10):
        write(folder, f"2026010{day}.tar.gz", 12.5 - day)
    write(folder, "notes.txt", 90)
    return folder


def backup(*days: int) -> list[str]:
    return [f"2026010{day}.tar.gz" for day in days]


def delete_old(backups: Path, **keys: Any) -> Step:
    return step(path=str(backups), glob="*.tar.gz", older_than="7d", action="delete", **keys)


def test_keep_newest_never_acts_on_the_newest_of_all_that_match(backups: Path) -> None:
    """The newest 7 of all ten are kept, old or not: 3 of the 6 old ones go, and `kept`
    counts the 3 old ones spared."""
    values = run(delete_old(backups, keep_newest=7))
    assert values["files"] == backup(0, 1, 2)
    assert (values["count"], values["bytes"], values["kept"]) == (3, 30, 3)
    assert names(backups) == [*backup(3, 4, 5, 6, 7, 8, 9), "notes.txt"]
    assert FilesStep().summary(values) == "deleted 3 files (30 bytes); 3 files kept as the newest"
    again = run(delete_old(backups, keep_newest=7))  # the same again: nothing more goes
    assert (again["count"], again["kept"]) == (0, 3)
    assert FilesStep().summary(again) == "nothing to delete; 3 files kept as the newest"


@pytest.mark.parametrize(
    ("keep", "deleted", "kept"),
    [
        (0, backup(0, 1, 2, 3, 4, 5), 0),
        (4, backup(0, 1, 2, 3, 4, 5), 0),  # the newest 4 are younger than 7 days anyway
        (5, backup(0, 1, 2, 3, 4), 1),
        (10, [], 6),
        (25, [], 6),  # more than there are: every one is kept
    ],
    ids=["zero-keeps-none", "all-new-anyway", "one-old-kept", "exactly-all", "more-than-all"],
)
def test_keep_newest_counts(backups: Path, keep: int, deleted: list[str], kept: int) -> None:
    values = run(delete_old(backups, keep_newest=keep))
    assert (values["files"], values["kept"]) == (deleted, kept)
    assert sorted(set(names(backups)) | set(deleted)) == [*backup(*range(10)), "notes.txt"]
    assert not set(deleted) & set(names(backups))


def test_without_keep_newest_the_result_has_no_kept(backups: Path) -> None:
    values = run(delete_old(backups))
    assert values["count"] == 6 and "kept" not in values
    assert FilesStep().summary(values) == "deleted 6 files (60 bytes)"


def test_keep_newest_without_older_than_keeps_the_newest_of_any_age(backups: Path) -> None:
    archive = backups.parent / "archive"
    files = step(
        path=str(backups), glob="*.tar.gz", action="archive", to=str(archive), keep_newest=2
    )
    values = run(files)
    assert (values["count"], values["kept"]) == (8, 2)
    assert names(backups) == [*backup(8, 9), "notes.txt"]
    assert names(archive) == backup(*range(8))


def test_on_equal_times_the_name_that_sorts_last_is_the_newer(tmp_path: Path) -> None:
    """Twelve files of the same time and one a minute newer: whatever order the folder
    lists them in (ext4 lists by hash), the newer one is kept first, then the names that
    sort last, the same every time."""
    stamp = time.time() - 30 * DAY
    tied = [f"f{number:02d}.log" for number in range(12)]
    for name in tied:
        os.utime(write(tmp_path, name, 0), (stamp, stamp))
    os.utime(write(tmp_path, "a.log", 0), (stamp + 60, stamp + 60))

    def delete(keep: int) -> Step:
        return step(
            path=str(tmp_path), glob="*.log", older_than="1d", action="delete", keep_newest=keep
        )

    for keep in range(1, 14):
        assert run(delete(keep), mode="rehearse")["files"] == tied[: 13 - keep], keep
    assert len(names(tmp_path)) == 13  # rehearsed: nothing deleted
    assert run(delete(3))["kept"] == 3
    assert names(tmp_path) == ["a.log", "f10.log", "f11.log"]


def test_dry_run_and_rehearse_leave_out_the_kept(backups: Path) -> None:
    files = delete_old(backups, keep_newest=7)
    ctx = StepContext(scope={}, timeout=30.0, mode="dry-run")
    described = FilesStep().describe(files, ctx)
    assert described["keep_newest"] == 7
    assert (described["count"], described["files"], described["kept"]) == (3, backup(0, 1, 2), 3)
    assert FilesStep().rendered_summary(described, "dry-run") == (
        f"would delete 3 files (30 bytes): *.tar.gz older than 7d in {backups}, but the newest 7"
    )
    rehearsed = run(files, mode="rehearse")
    assert (rehearsed["files"], rehearsed["kept"]) == (backup(0, 1, 2), 3)
    assert FilesStep().summary(rehearsed) == (
        "would delete 3 files (30 bytes); 3 files kept as the newest"
    )
    assert len(names(backups)) == 11  # nothing changed


KEEP_RUNBOOK = """
runbook: prune
inputs:
  keep: {type: integer, default: 7}
  keep_text: {type: string, default: "7"}
steps:
  - id: by_input
    files:
      path: backup
      glob: "*.tar.gz"
      older_than: 7d
      action: delete
      keep_newest: "{{ inputs.keep }}"
"""


def test_keep_newest_may_be_a_template(project) -> None:
    """Rendered as the step runs (an integer input, or text of digits); one that does not
    render to a whole number 0 or more fails the step, naming what it rendered from."""
    backups = project.root / "backup"
    for day in range(10):
        write(backups, f"2026010{day}.tar.gz", 12.5 - day)
    project.runbook("prune", KEEP_RUNBOOK)
    dry = project.run("prune", {"keep": 8}, mode="dry-run")
    assert dry.steps[0].rendered["keep_newest"] == 8
    assert dry.steps[0].rendered["files"] == backup(0, 1)
    rehearsed = project.run("prune", mode="rehearse")
    assert (rehearsed.steps[0].values["count"], rehearsed.steps[0].values["kept"]) == (3, 3)
    assert len(names(backups)) == 10
    project.runbook("prune", KEEP_RUNBOOK.replace("inputs.keep }}", "inputs.keep_text }}"))
    result = project.run("prune", {"keep_text": "9"})
    assert (str(result.status), result.steps[0].values["files"]) == ("OK", backup(0))
    assert names(backups) == backup(*range(1, 10))
    for bad, shown in (("-1", "'-1'"), ("seven", "'seven'"), ("2.5", "'2.5'")):
        result = project.run("prune", {"keep_text": bad})
        assert str(result.status) == "CRITICAL"
        assert result.steps[0].error == (
            f"keep_newest: {shown} is not a number of files to keep: write a whole number, "
            "0 or more, such as 7 (rendered from '{{ inputs.keep_text }}')"
        )
    assert names(backups) == backup(*range(1, 10))  # a bad count deletes nothing
    project.runbook("prune", KEEP_RUNBOOK.replace("inputs.keep }}", "inputs.keep - 10 }}"))
    result = project.run("prune")
    assert result.steps[0].error.startswith("keep_newest: -3 is not a number of files to keep")


def test_keep_newest_is_validated(project) -> None:
    project.runbook(
        "prune",
        """
        runbook: prune
        steps:
          - files: {path: b, action: delete, keep_newest: -1}
          - files: {path: b, action: delete, keep_newest: 2.5}
          - files: {path: b, action: delete, keep_newest: seven}
          - files: {path: b, action: delete, keep_newest: true}
          - files: {path: b, keep_newest: 7}
          - files: {path: b, action: archive, to: a, keep_newest: 0}
          - files: {path: b, action: delete, keep_newest: "{{ 7 }}"}
        """,
    )
    found = project.library().problems(project.root / "runbooks" / "prune.yaml")
    assert [p.format() for p in sorted(found, key=lambda p: (p.line, p.col))] == [
        "runbooks/prune.yaml:3:51: error: steps[0].files.keep_newest: -1 is not a number of "
        "files to keep: write a whole number, 0 or more, such as 7",
        "runbooks/prune.yaml:4:51: error: steps[1].files.keep_newest: 2.5 is not a number of "
        "files to keep: write a whole number, 0 or more, such as 7",
        "runbooks/prune.yaml:5:51: error: steps[2].files.keep_newest: 'seven' is not a number "
        "of files to keep: write a whole number, 0 or more, such as 7",
        "runbooks/prune.yaml:6:51: error: steps[3].files.keep_newest: true is not a number of "
        "files to keep: write a whole number, 0 or more, such as 7",
        "runbooks/prune.yaml:7:35: error: steps[4].files.keep_newest: `keep_newest:` spares "
        "files from action: delete or archive, and action: list changes none (give the step "
        "action: delete or archive; --dry-run or --rehearse shows what it would keep)",
    ]
