"""`runbook doctor`: what a scheduled run needs, checked as the user who runs it."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import REPO

from runner.cli import main
from runner.service.doctor import check_clock, diagnose, odbc_driver


@pytest.fixture
def demo(tmp_path, monkeypatch):
    """The shipped configuration, runbooks and SQL copied to tmp: the SQLite demo."""
    for name in ("runbooks", "checks", "sql"):
        shutil.copytree(REPO / name, tmp_path / name)
    shutil.copy(REPO / "runner.yaml", tmp_path / "runner.yaml")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RUNBOOK_CONFIG", raising=False)
    return tmp_path


def doctor(capsys, *args):
    code = main(["doctor", *args])
    out, err = capsys.readouterr()
    return code, out, err


def lines_of(out):
    """Each check's line by its name ("ok    var: ..." -> "var")."""
    return {line[6:].split(":")[0]: line for line in out.splitlines()[:-1]}


def _shipped_connections() -> set[str]:
    """The connections of the shipped runner.yaml (each demo system may add its own)."""
    from runner.language.config import load_config

    return {f"connection {name}" for name in load_config(REPO / "runner.yaml").connections}


def test_the_sqlite_demo_passes_every_check(demo, capsys):
    code, out, err = doctor(capsys)
    assert code == 0, out
    assert err == ""
    lines = out.splitlines()
    connections = _shipped_connections()
    assert {"connection orders", "connection edi_metrics", "connection wms"} <= connections
    total = 6 + len(connections)
    assert [line.split()[0] for line in lines[:-1]] == ["ok"] * total
    checks = lines_of(out)
    assert (
        set(checks)
        == {
            "config",
            "runbooks",
            "var",
            "state store",
            "notifications",
            "clock",
        }
        | connections
    )
    assert "SELECT 1 answered" in checks["connection orders"]
    assert "SELECT 1 answered" in checks["connection wms"]
    assert (demo / "var" / "demo" / "orders.db").is_file()  # built, as a run builds it
    assert (demo / "var" / "demo" / "edi" / "metrics" / "edi_metrics.db").is_file()
    assert (demo / "var" / "demo" / "wms.db").is_file()
    assert lines[-1] == f"all {total} checks passed"


def test_json_lists_every_check_and_the_failed_ones(demo, capsys):
    code, out, _ = doctor(capsys, "--format", "json")
    document = json.loads(out)
    assert code == 0
    assert document["ok"] is True and document["failed"] == []
    assert [c["check"] for c in document["checks"]][:2] == ["config", "runbooks"]
    assert set(document["checks"][0]) == {"check", "ok", "detail", "fix"}


def test_an_existing_store_is_opened_and_the_clock_compared(demo, capsys):
    assert main(["run", "order-health"]) == 2
    capsys.readouterr()
    code, out, _ = doctor(capsys)
    assert code == 0, out
    assert "state store: " in out and "runner.db opens" in out


def test_a_var_folder_under_a_regular_file_cannot_be_created(demo, capsys):
    # Not writable even by root: the kernel refuses a path through a regular file.
    (demo / "blocker").write_text("")
    text = (
        (demo / "runner.yaml")
        .read_text()
        .replace("state: var/runner.db", "state: blocker/var/runner.db")
    )
    (demo / "runner.yaml").write_text(text)
    code, out, _ = doctor(capsys)
    assert code == 1
    checks = lines_of(out)
    blocker = demo / "blocker"
    assert checks["var"] == (
        f"FAIL  var: {blocker}/var cannot be created: {blocker} is a file, not a folder"
        f" -> fix: move {blocker} away, or point state: in runner.yaml elsewhere"
    )
    assert checks["state store"].startswith(
        f"FAIL  state store: {blocker}/var/runner.db cannot be created (see var)"
    )
    total = 6 + len(_shipped_connections())
    assert out.splitlines()[-1] == f"2 of {total} checks failed: var, state store"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes a read-only folder all the same")
def test_a_read_only_var_folder_says_chmod(demo, capsys):
    (demo / "var").mkdir()
    sqlite3.connect(demo / "var" / "runner.db").close()
    (demo / "var" / "runner.db").chmod(0o444)
    try:
        code, out, _ = doctor(capsys)
    finally:
        (demo / "var" / "runner.db").chmod(0o644)
    assert code == 1
    assert "FAIL  var: not writable by" in out and "runner.db" in out
    assert "chmod -R u+rwX" in out


NOBODY = 65534


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create what nobody then runs")
def test_a_store_created_by_root_and_run_by_another_user_says_chown(request):
    """Today's first failure under Nagios: root ran it once, nagios cannot write var/."""
    import pwd

    try:
        nobody = pwd.getpwuid(NOBODY).pw_name
    except KeyError:
        pytest.skip("no user with uid 65534 here")
    # A folder every user may enter (pytest's own tmp is root's only).
    project = Path(tempfile.mkdtemp(prefix="runbook-doctor-"))
    request.addfinalizer(lambda: shutil.rmtree(project, ignore_errors=True))
    project.chmod(0o755)
    (project / "runbooks").mkdir()
    (project / "runner.yaml").write_text("state: var/runner.db\nconnections: {}\n")
    (project / "var").mkdir()
    sqlite3.connect(project / "var" / "runner.db").close()  # root's, 0644
    try:
        code = subprocess.run(
            [sys.executable, "-m", "runner", "doctor", "--format", "json"],
            cwd=project,
            capture_output=True,
            text=True,
            user=NOBODY,
            env={**os.environ, "HOME": str(project)},
            timeout=60,
        )
    except PermissionError as error:
        pytest.skip(f"{nobody} cannot run this checkout's Python: {error}")
    if code.returncode != 1 and "Permission denied" in code.stderr:
        pytest.skip(f"{nobody} cannot read this checkout: {code.stderr[-200:]}")
    assert code.returncode == 1, code.stderr
    found = {c["check"]: c for c in json.loads(code.stdout)["checks"]}
    assert found["var"]["ok"] is False
    assert found["var"]["detail"].startswith(f"not writable by {nobody}: {project / 'var'}")
    assert "(owner root)" in found["var"]["detail"]
    assert found["var"]["fix"].startswith(f"as root: chown -R {nobody}: {project / 'var'}")
    assert found["state store"]["detail"] == (
        f"{project / 'var' / 'runner.db'} is not writable by {nobody} (owner root)"
    )


def test_an_odbc_driver_that_is_not_installed_is_named(project, capsys):
    project.config(
        """
        connections:
          mssql: {odbc: "DRIVER={ODBC Driver 99 for SQL Server};SERVER=127.0.0.1;UID=sa;PWD=${DOCTOR_PW}"}
        state: var/runner.db
        """
    )
    os.environ["DOCTOR_PW"] = "s3cret-doctor"
    try:
        code, out, _ = doctor(capsys)
    finally:
        del os.environ["DOCTOR_PW"]
    assert code == 1
    line = lines_of(out)["connection mssql"]
    assert line.startswith(
        "FAIL  connection mssql: ODBC driver 'ODBC Driver 99 for SQL Server' is not installed"
    )
    assert (
        "fix: install the driver, or name an installed one in DRIVER= (see runner.yaml:2)" in line
    )
    assert "s3cret-doctor" not in out


def test_an_unset_variable_in_a_connection_says_so(project, capsys, monkeypatch):
    monkeypatch.delenv("DOCTOR_UNSET", raising=False)
    project.config(
        """
        connections:
          pg: {odbc: "DRIVER={PostgreSQL Unicode};SERVER=127.0.0.1;PWD=${DOCTOR_UNSET}"}
        """
    )
    code, out, _ = doctor(capsys)
    assert code == 1
    assert "FAIL  connection pg: runner.yaml:2: environment variable DOCTOR_UNSET is not set" in out


def test_a_missing_sqlite_database_fails_its_connection(project, capsys):
    project.db.unlink()
    code, out, _ = doctor(capsys)
    assert code == 1
    assert (
        f"FAIL  connection main: connection 'main': database file {project.db} does not exist"
        in out
    )


def test_a_broken_notification_url_is_reported_and_nothing_is_sent(project, capsys):
    project.config(
        """
        connections:
          main: {sqlite: data.db}
        notifications:
          urls:
            ops: ["nosuchscheme://x"]
        """
    )
    code, out, _ = doctor(capsys)
    assert code == 1
    line = lines_of(out)["notifications"]
    assert line.startswith(
        "FAIL  notifications: runner.yaml:5:11: error: notifications.urls.ops[0]: "
        "Apprise cannot load 'nosuchscheme://x'"
    )


def test_loadable_notification_urls_are_counted_with_their_tags(project, capsys):
    project.config(
        """
        connections:
          main: {sqlite: data.db}
        notifications:
          urls:
            ops: ["json://127.0.0.1:9/hook"]
        """
    )
    code, out, _ = doctor(capsys)
    assert code == 0, out
    assert "ok    notifications: 1 service loaded (tags: ops)" in out


def test_an_invalid_runner_yaml_is_one_failed_check(project, capsys):
    project.config("connections: [oops]\n")
    code, out, err = doctor(capsys)
    assert code == 1
    assert out.startswith("FAIL  config: runner.yaml:1:")
    assert out.splitlines()[-1] == "1 of 1 check failed: config"
    assert "Traceback" not in out + err


def test_an_invalid_runbook_fails_the_runbooks_check(project, capsys):
    project.runbook("broken", "runbook: broken\nsteps: [{id: a, sqll: 'SELECT 1'}]\n")
    code, out, _ = doctor(capsys)
    assert code == 1
    line = lines_of(out)["runbooks"]
    assert line.startswith("FAIL  runbooks: ")
    assert "runbooks/broken.yaml" in line
    assert line.endswith("-> fix: runbook validate shows every problem")


@pytest.mark.parametrize(
    ("now", "newest", "ok", "detail"),
    [
        (datetime(2026, 5, 1, 12, 0, tzinfo=UTC), None, True, "2026-05-01 12:00Z"),
        (
            datetime(1970, 1, 1, 0, 5, tzinfo=UTC),
            None,
            False,
            "the clock says 1970-01-01 00:05Z, an implausible year",
        ),
        (
            datetime(2026, 5, 1, 12, 0, tzinfo=UTC),
            datetime(2026, 5, 1, 12, 4, tzinfo=UTC),
            True,
            "2026-05-01 12:00Z",
        ),
        (
            datetime(2026, 5, 1, 12, 0, tzinfo=UTC),
            datetime(2026, 5, 1, 12, 30, tzinfo=UTC),
            False,
            "the clock (2026-05-01 12:00Z) is 30 minutes behind the newest recorded run "
            "(2026-05-01 12:30Z)",
        ),
    ],
    ids=["sane", "epoch", "a-few-minutes-behind", "half-an-hour-behind"],
)
def test_the_clock(now, newest, ok, detail):
    found = check_clock(now, newest)
    assert (found.ok, found.detail) == (ok, detail)


def test_a_clock_behind_the_newest_recorded_run_fails(demo, capsys):
    assert main(["run", "order-health"]) == 2
    capsys.readouterr()
    tomorrow = datetime.now(UTC) - timedelta(days=1)
    found = {f.check: f for f in diagnose(None, now=lambda: tomorrow).findings}
    assert found["clock"].ok is False
    assert "behind the newest recorded run" in found["clock"].detail


@pytest.mark.parametrize(
    ("text", "driver"),
    [
        ("DRIVER={PostgreSQL Unicode};SERVER=x", "PostgreSQL Unicode"),
        ("Server=x;driver=FreeTDS;UID=a", "FreeTDS"),
        ("DSN=orders;UID=a", None),
    ],
    ids=["braced", "bare", "dsn"],
)
def test_odbc_driver_names(text, driver):
    assert odbc_driver(text) == driver
