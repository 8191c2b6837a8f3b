"""The command line end to end: the demo health check, formats, exit codes, validate."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest
from conftest import REPO

from runner.cli import main


@pytest.fixture
def demo(tmp_path, monkeypatch):
    """A copy of the shipped configuration, runbooks and SQL, so var/ lands in tmp."""
    for name in ("runbooks", "checks", "sql"):
        if (REPO / name).exists():
            shutil.copytree(
                REPO / name, tmp_path / name, copy_function=shutil.copy
            )  # as a clone: mtime now
    shutil.copy(REPO / "runner.yaml", tmp_path / "runner.yaml")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RUNBOOK_CONFIG", raising=False)
    return tmp_path


def cli(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_demo_health_check_reports_against_thresholds(demo, capsys):
    code, out, err = cli(capsys, "run", "order-health")
    assert code == 2, err
    assert (demo / "var" / "demo" / "orders.db").is_file()
    assert "pending_count = 7 <= warning 10" in out
    assert "failed_count = 4 > warning 0" in out
    assert "last_run_success = 0 < critical 1" in out
    assert "hint:" in out and "Customer not found" in out
    assert re.search(r"^CRITICAL - \d+ critical", out, re.M)


def test_json_format_is_machine_readable(demo, capsys):
    code, out, _ = cli(capsys, "run", "order-health", "--format", "json")
    data = json.loads(out)
    assert code == 2 and data["status"] == "CRITICAL" and data["exit_code"] == 2
    assert data["format_version"] == 1
    pending = next(step for step in data["steps"] if step["id"] == "pending")
    assert pending["values"]["row"]["pending_count"] == 7


def test_nagios_format_is_a_status_line_with_perfdata_then_the_bad_steps(demo, capsys):
    code, out, _ = cli(capsys, "run", "order-health", "--format", "nagios")
    lines = out.strip().splitlines()
    assert code == 2
    assert lines[0].startswith("ORDER-HEALTH CRITICAL - ")
    assert re.search(r"\| .*'?pending_count'?=7;~:10;~:50", lines[0])
    # After the first line, one line per bad step with the first line of its hint.
    assert lines[1:] == [
        "CRITICAL pending: Orders are not processing (7 pending, the oldest 300 minutes old): "
        "runbook run order-processing",
        "CRITICAL last_run: The order processor last ran 70 minutes ago and failed: "
        "runbook run order-troubleshoot",
        "CRITICAL history: 19 of 92 processor runs failed in 24 hours: "
        "runbook run order-troubleshoot --param db_host=<server>",
        "WARNING failed: 4 orders failed validation (2 dead letters): "
        "runbook run order-retry --param staging_id=58, and the others below.",
    ]


def test_param_changes_the_threshold(demo, capsys):
    _, out, _ = cli(
        capsys, "run", "order-health", "--param", "stale_minutes=400", "--format", "json"
    )
    pending = next(s for s in json.loads(out)["steps"] if s["id"] == "pending")
    assert any(
        e["text"].startswith("oldest_minutes = ") and e["status"] == "CRITICAL"
        for e in pending["evaluations"]
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["run", "order-health", "--param", "stale_minutes=soon"],
            "expected a whole number, got 'soon'",
        ),
        (["run", "order-health", "--param", "stale"], "write --param name=value"),
        (["run", "order-health", "--param", "nope=1"], "unknown input 'nope'"),
        (["run", "order-helth"], "no runbook named 'order-helth'"),
        (["run", "order-health", "--bogus"], "unrecognized arguments: --bogus"),
    ],
    ids=["wrong-type", "no-equals", "unknown", "unknown-runbook", "bad-flag"],
)
def test_bad_invocations_exit_3_with_a_message(demo, capsys, args, message):
    code, _, err = cli(capsys, *args)
    assert code == 3
    assert message in err


def test_dry_run_shows_bound_sql_and_creates_nothing(demo, capsys):
    code, out, _ = cli(capsys, "run", "order-health", "--dry-run")
    assert code == 0
    assert "dry-run" in out.lower()
    assert "USER_ORDER_STAGING" in out
    assert not (demo / "var" / "runner.db").exists()


def test_history_lists_the_recorded_runs(demo, capsys):
    cli(capsys, "run", "order-health", "--format", "json")
    code, out, _ = cli(capsys, "history", "order-health", "--format", "json")
    rows = json.loads(out)
    assert code == 0 and rows[0]["runbook"] == "order-health" and rows[0]["status"] == "CRITICAL"
    code, out, _ = cli(capsys, "history", "--run", rows[0]["run_id"][:18], "--format", "json")
    assert code == 0 and json.loads(out)["run_id"] == rows[0]["run_id"]
    code, out, _ = cli(capsys, "history", "--run", rows[0]["run_id"])
    assert code == 0 and "pending_count = 7 <= warning 10" in out and rows[0]["run_id"] in out
    code, out, _ = cli(capsys, "history")
    assert code == 0 and rows[0]["run_id"] in out


def test_status_shows_each_runbooks_last_run_and_exits_with_the_worst(demo, capsys):
    code, out, _ = cli(capsys, "status", "--format", "json")
    health = [row for row in json.loads(out) if row["runbook"] == "order-health"]
    assert code == 0 and health == [
        {
            "runbook": "order-health",
            "status": None,
            "run_id": None,
            "started": None,
            "duration": None,
            "schedule": "0 * * * *",
            "alert": None,
            "outcome": None,
            "late": None,
        }
    ]
    cli(capsys, "run", "order-health", "--format", "json")
    code, out, _ = cli(capsys, "status")
    assert code == 2
    assert re.search(
        r"^order-health\s+CRITICAL\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z .*0 \* \* \* \*",
        out,
        re.M,
    )
    assert re.search(r"\d+ runbooks?, 1 not OK", out)  # order-health; the others never ran


def test_list_and_show(demo, capsys):
    code, out, _ = cli(capsys, "list")
    assert code == 0 and "order-health" in out
    code, out, _ = cli(capsys, "show", "order-health")
    assert code == 0 and "stale_minutes" in out and "pending_count" in out
    # a templated title reads as `runbook list` shows it: rendered from the inputs' defaults
    code, out, _ = cli(capsys, "show", "order-load-test")
    assert out.splitlines()[0] == (
        "order-load-test: Order pipeline - load test with 100 orders (demo only)"
    )


def test_every_shipped_runbook_and_check_validates(demo, capsys):
    code, out, err = cli(capsys, "validate")
    assert code == 0, out + err


def test_validate_github_format_and_exit_code(demo, capsys):
    bad = demo / "runbooks" / "bad.yaml"
    bad.write_text(
        "runbook: bad\nconnection: orders\nsteps:\n  - id: a\n    sql: SELECT 1\n    tresholds: {}\n"
    )
    code, out, _ = cli(capsys, "validate", str(bad), "--format", "github")
    assert code == 1
    assert out.splitlines() == [
        "::error file=runbooks/bad.yaml,line=6,col=5,title=runbook validate::steps[0]: "
        "unknown key 'tresholds' (did you mean 'thresholds'?)",
        "1 error, 0 warnings in 1 file",
    ]


def test_schema_prints_json_schema(demo, capsys):
    code, out, _ = cli(capsys, "schema", "runbook")
    assert code == 0 and json.loads(out)["$schema"].endswith("2020-12/schema")


def _spawn(args, cwd):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-m", "runner", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_sigterm_aborts_records_and_rolls_back(project):
    project.sql("CREATE TABLE d (x INTEGER)", "INSERT INTO d VALUES (1)")
    project.runbook(
        "slow",
        """
        runbook: slow
        kind: rollback
        connection: main
        steps:
          - id: tx
            transaction: true
            steps:
              - id: wipe
                sql: DELETE FROM d
              - id: stall
                sql: WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c) SELECT COUNT(*) FROM c
                timeout: 60s
        """,
    )
    process = _spawn(["run", "slow", "--format", "json"], project.root)
    deadline = time.monotonic() + 20
    state = project.root / "var" / "runner.db"
    while time.monotonic() < deadline and not state.exists():
        time.sleep(0.05)
    time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 3, err
    data = json.loads(out)
    assert data["outcome"] == "aborted" and "SIGTERM" in data["error"]
    assert [(s["id"], s["outcome"]) for s in data["steps"]] == [("tx", "aborted")]
    assert project.query("SELECT COUNT(*) FROM d") == [(1,)]
    from runner.history.store import StateStore

    store = StateStore(state)
    assert store.history("slow")[0]["outcome"] == "aborted"
    store.close()


def test_overlapping_runs_across_processes_run_once(project):
    project.runbook(
        "long",
        """
        runbook: long
        connection: main
        steps:
          - wait: 2s
        """,
    )
    first = _spawn(["run", "long", "--format", "json"], project.root)
    time.sleep(0.8)
    second = _spawn(["run", "long", "--format", "json"], project.root)
    out2, _ = second.communicate(timeout=30)
    out1, _ = first.communicate(timeout=30)
    assert json.loads(out1)["outcome"] == "completed"
    assert json.loads(out2)["outcome"] == "skipped"


def test_help_is_true_to_the_commands(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in ("list", "show", "run", "validate", "history", "status", "schema"):
        assert re.search(rf"^\s+{command}\s", out, re.M), command
    assert "0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN" in out


def test_version_is_written_once_and_shown_by_the_command_line(capsys):
    from importlib.metadata import version

    import runner

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out == f"runbook {runner.__version__}\n"
    assert version("runbook-runner") == runner.__version__  # pyproject.toml reads it


@pytest.mark.parametrize(
    ("what", "expected"),
    [
        ("missing", "{path}: error: no such file or folder"),
        ("empty", "{path}: error: no runbook or check files (*.yaml, *.yml) here"),
        ("fifo", "{path}: error: not a file or folder"),
    ],
    ids=["missing", "empty-folder", "fifo"],
)
def test_validate_of_nothing_to_validate_is_an_error_not_a_pass(
    project, capsys, what: str, expected: str
) -> None:
    """`0 files valid` would read as a pass in CI: a path that holds no runbook fails."""
    import os

    path = project.root / what
    if what == "empty":
        path.mkdir()
    elif what == "fifo":
        os.mkfifo(path)
    assert main(["validate", str(path)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        expected.format(path=path),
        "1 error, 0 warnings in 0 files",
    ]


def test_validate_with_no_runbook_anywhere_says_where_it_looked(project, capsys) -> None:
    project.config("runbooks: [nothing-here]\nchecks: [nor-here]\n")
    assert main(["validate"]) == 1
    out = capsys.readouterr().out
    assert "error: no runbook or check files (*.yaml, *.yml) in " in out
    assert "set `runbooks:` in runner.yaml to the folders that hold them" in out
