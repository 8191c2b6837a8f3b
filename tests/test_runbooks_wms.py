"""Every runbook of runbooks/wms against the wms demo, healthy and in each fault it is
meant to catch: the run's status and the steps that fired.

The demo serves on a free 127.0.0.1 port (runner.demos.server.serving), and the runbooks
find it through WMS_URL as they would production. Its database is the runner.yaml `wms`
connection, on two backends: the demo's SQLite file, and a real PostgreSQL at
127.0.0.1:5432 through ODBC (a database of this module's own, dropped at the end; marked
`integration`: unreachable, it skips saying why, and in CI, where CI=true, that skip is
a failure). Runs go through the run service as `runbook run` does, with retries that do
not sleep; one healthy run goes through the command line and its JSON.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from runner.base.status import Status
from runner.cli.main import main
from runner.demos import system
from runner.demos.base import DemoState
from runner.demos.server import Served, serving
from runner.language.config import load_config
from runner.service.runs import RunRequest, RunService

REPO = Path(__file__).resolve().parent.parent
PG_ADMIN = "DRIVER={PostgreSQL Unicode};SERVER=127.0.0.1;PORT=5432;DATABASE=postgres;UID=postgres"
ALL_FAULTS = frozenset(system("wms").FAULTS)


class Clock:
    """The demo's clock: the real time, moved on by the test (the demo's counters grow
    by it, the history's runs are stamped by the real one)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@dataclass
class Wms:
    """A project with the shipped runbooks, its `wms` connection, and the demo serving it."""

    backend: str
    root: Path
    served: Served
    odbc: str | None = None

    @property
    def url(self) -> str:
        return self.served.url

    def advance(self, seconds: float) -> None:
        """Move the demo's clock on: its counters grow by that much traffic."""
        clock = self.served.state.clock
        assert isinstance(clock, Clock)
        clock.offset += seconds

    def faults(self, *faults: str) -> None:
        """Switch the demo to exactly `faults`, as PUT /_demo/faults does, and make one
        request so its rows follow (the runbooks' SQL reads the database directly)."""
        self.served.state.set_faults(faults)
        with contextlib.suppress(OSError):
            urllib.request.urlopen(self.url + "/health", timeout=10).close()

    def run(
        self,
        name: str,
        params: dict[str, Any] | None = None,
        env: dict[str, str] | None = None,
        **request: Any,
    ) -> Any:
        service = RunService(
            load_config(self.root / "runner.yaml"),
            sleep=lambda seconds: None,
            log=lambda message: None,
            interactive=False,
            environ={**os.environ, "WMS_URL": self.url, "PATH": _path(), **(env or {})},
        )
        return service.run(RunRequest(name, params or {}, **request))


def _path() -> str:
    return f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    """A database of this module's own on the local PostgreSQL, as an ODBC string."""
    try:
        import pyodbc
    except ImportError as error:  # pragma: no cover - scripts/test installs it
        pytest.skip(f"pyodbc is not installed: {error}")
    if "PostgreSQL Unicode" not in pyodbc.drivers():
        pytest.skip(
            "ODBC driver 'PostgreSQL Unicode' is not installed (apt-get install odbc-postgresql)"
        )
    try:
        admin = pyodbc.connect(PG_ADMIN, autocommit=True, timeout=5)
    except pyodbc.Error as error:
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432 is not reachable: {error.args[-1]}")
    database = f"runbook_wms_{secrets.token_hex(4)}"
    admin.execute(f"CREATE DATABASE {database}")
    try:
        yield PG_ADMIN.replace("DATABASE=postgres", f"DATABASE={database}")
    finally:
        admin.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        admin.close()


@contextlib.contextmanager
def _serving(root: Path, odbc: str | None, state_odbc: str | None = None) -> Iterator[Wms]:
    """The shipped runbooks in `root`, their `wms` connection SQLite or `odbc`, and the
    demo serving that database; the runner's history in var/runner.db or `state_odbc`."""
    connection = (
        f"{{odbc: {odbc!r}, dialect: postgres, demo: wms}}"
        if odbc
        else "{sqlite: var/demo/wms.db, demo: wms}"
    )
    store = f"{{odbc: {state_odbc!r}, dialect: postgres}}" if state_odbc else "var/runner.db"
    (root / "runner.yaml").write_text(
        f"connections:\n  wms: {connection}\n"
        f"state: {store}\n"
        f"runbooks: [{REPO / 'runbooks' / 'wms'}]\n"
        f"sql: [{REPO / 'sql'}]\n"
        f"checks: [{REPO / 'checks'}]\n",
        encoding="utf-8",
    )
    state = DemoState(
        root / "var" / "demo" / "wms", config=load_config(root / "runner.yaml"), clock=Clock()
    )
    served = Served(system("wms"), state, "127.0.0.1", _free_port())
    with serving([served]):
        yield Wms("postgres" if odbc else "sqlite", root, served, odbc)
        served.state.set_faults(())
        with contextlib.suppress(OSError):  # the stuck query, if any, is cancelled
            urllib.request.urlopen(served.url + "/health", timeout=10).close()


@pytest.fixture(
    scope="module",
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)],
)
def wms(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Wms]:
    odbc = request.getfixturevalue("postgres") if request.param == "postgres" else None
    with _serving(tmp_path_factory.mktemp(f"wms-{request.param}"), odbc) as served:
        yield served


@pytest.fixture
def sqlite_wms(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Wms]:
    """A demo of its own on SQLite, for a test of the SQLite case alone."""
    monkeypatch.chdir(tmp_path)
    with _serving(tmp_path, None) as served:
        yield served


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def fresh(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Wms]:
    """A demo of the test's own (its folders, logs and backups untouched by other tests)."""
    odbc = request.getfixturevalue("postgres") if request.param == "postgres" else None
    monkeypatch.chdir(tmp_path)
    with _serving(tmp_path, odbc) as served:
        served.faults()
        yield served


@pytest.fixture
def pg_wms(postgres: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Wms]:
    """A demo of its own on PostgreSQL (the module's database), for a PostgreSQL test."""
    monkeypatch.chdir(tmp_path)
    with _serving(tmp_path, postgres) as served:
        served.faults()
        yield served


@pytest.fixture
def demo(wms: Wms, monkeypatch: pytest.MonkeyPatch) -> Iterator[Wms]:
    """The module's demo, healthy at the start and the end of each test; the test runs in
    the project's folder (relative paths in the runbooks start there)."""
    monkeypatch.chdir(wms.root)
    wms.faults()
    wms.advance(600)  # ten healthy minutes: the rates since the last run are the healthy ones
    yield wms
    wms.faults()


def statuses(run: Any) -> dict[str, str]:
    """Each step's status by id, nested ones as parent.child, skipped ones left out."""
    found: dict[str, str] = {}

    def walk(steps: list[Any], prefix: str) -> None:
        for step in steps:
            if step.status is Status.SKIPPED:
                continue
            found[prefix + step.id] = str(step.status)
            if step.item is None:
                walk(step.children, f"{prefix}{step.id}.")

    walk(run.steps, "")
    return found


def fired(run: Any) -> dict[str, str]:
    """The top-level steps that ended WARNING or CRITICAL (or UNKNOWN), by id."""
    return {s.id: str(s.status) for s in run.steps if s.status.is_bad}


# runbook, faults, expected status, the steps that fired (exactly these, at top level)
CASES: list[tuple[str, tuple[str, ...], str, dict[str, str]]] = [
    ("wms-health", (), "OK", {}),
    ("wms-health", ("slow",), "CRITICAL", {"response_time": "CRITICAL"}),
    (
        "wms-health",
        ("high-error-rate",),
        "CRITICAL",
        {"error_rate": "CRITICAL", "logs": "WARNING"},
    ),
    ("wms-health", ("db-connections-high",), "CRITICAL", {"db_connections": "CRITICAL"}),
    ("wms-health", ("high-cpu",), "CRITICAL", {"resources": "CRITICAL"}),
    ("wms-health", ("high-memory",), "CRITICAL", {"resources": "CRITICAL"}),
    ("wms-health", ("disk-full",), "CRITICAL", {"disk": "CRITICAL"}),
    (
        "wms-health",
        ("api-down",),
        "CRITICAL",
        {
            "health": "CRITICAL",
            "resources": "CRITICAL",
            "disk": "CRITICAL",
            "db_connections": "CRITICAL",
            "celery": "CRITICAL",
            "response_time": "CRITICAL",
            "error_rate": "CRITICAL",
            "logs": "WARNING",
        },
    ),
    # review item 11: the morning check looks at Celery ("all services Up")
    ("wms-health", ("celery-down",), "CRITICAL", {"celery": "CRITICAL"}),
    ("wms-health", ("celery-backlog",), "CRITICAL", {"celery": "CRITICAL"}),
    ("wms-p1-outage", (), "OK", {}),
    ("wms-p1-outage", ("api-down",), "CRITICAL", {"health": "CRITICAL", "logs": "WARNING"}),
    ("wms-p2-error-rate", (), "OK", {}),
    (
        "wms-p2-error-rate",
        ("high-error-rate",),
        "CRITICAL",
        {"logs": "WARNING", "error_rate": "CRITICAL"},
    ),
    ("wms-p3-slow", (), "OK", {}),
    ("wms-p3-slow", ("slow",), "CRITICAL", {"slow_requests": "CRITICAL"}),
    ("wms-p3-slow", ("db-connections-high",), "CRITICAL", {"db_connections": "CRITICAL"}),
    ("wms-p3-slow", ("celery-backlog",), "CRITICAL", {"celery_queue": "CRITICAL"}),
    ("wms-p3-slow", ("high-cpu",), "CRITICAL", {"resources": "CRITICAL"}),
    ("wms-p4-celery", (), "OK", {}),
    (
        "wms-p4-celery",
        ("celery-failing",),
        "CRITICAL",
        {"tasks": "CRITICAL", "worker_log": "WARNING"},
    ),
    ("wms-celery-queue", (), "OK", {}),
    ("wms-celery-queue", ("celery-backlog",), "CRITICAL", {"queue": "CRITICAL"}),
    ("wms-celery-queue", ("celery-down",), "CRITICAL", {"queue": "CRITICAL"}),
    ("wms-p4-celery", ("celery-down",), "CRITICAL", {"tasks": "CRITICAL"}),
    ("wms-inventory", (), "OK", {}),
    ("wms-inventory", ("low-stock",), "CRITICAL", {"low_stock": "CRITICAL"}),
    ("wms-inventory", ("expiring",), "CRITICAL", {"expiring": "CRITICAL"}),
]


@pytest.mark.parametrize(
    ("name", "faults", "status", "bad"),
    CASES,
    ids=[f"{name}-{'+'.join(faults) or 'healthy'}" for name, faults, _, _ in CASES],
)
def test_runbook_catches_its_fault(
    demo: Wms, name: str, faults: tuple[str, ...], status: str, bad: dict[str, str]
) -> None:
    assert set(faults) <= ALL_FAULTS
    demo.faults(*faults)
    demo.advance(3600)  # an hour of the fault since the last run (if any) of `name`
    run = demo.run(name)
    assert (str(run.status), fired(run)) == (status, bad), statuses(run)


def test_the_health_check_hints_name_the_incident_runbook(demo: Wms) -> None:
    demo.faults("slow", "high-error-rate")
    run = demo.run("wms-health")
    hints = {step.id: step.hint for step in run.steps if step.hint}
    assert "runbook run wms-p3-slow" in hints["response_time"]
    assert "runbook run wms-p2-error-rate" in hints["error_rate"]
    assert '"level": "ERROR"' in hints["logs"]
    response = next(s for s in run.steps if s.id == "response_time")
    (evaluation,) = response.evaluations
    assert evaluation.value > 2000  # p95 in ms, against the seed's 2000 ms


def test_the_health_check_through_the_command_line(
    demo: Wms, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WMS_URL", demo.url)
    assert main(["run", "wms-health", "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["status"] == "OK"
    assert [s["id"] for s in result["steps"]] == [
        "health", "frontend", "database", "resources", "disk", "host_disk",
        "db_connections", "celery", "response_time", "response_time_5m", "last_counts",
        "error_rate", "error_rate_5m", "logs",
    ]  # fmt: skip
    skipped = [s["id"] for s in result["steps"] if s["status"] == "SKIPPED"]
    assert skipped == ["frontend", "response_time_5m", "error_rate_5m"]  # no PROMETHEUS_URL
    assert result["steps"][1]["status"] == "SKIPPED"  # no WMS_FRONTEND_URL
    health = result["steps"][0]
    assert health["title"] == f"Backend health ({demo.url}/health)"  # WMS_URL, not the default


def _step(run: Any, step_id: str) -> Any:
    return next(s for s in run.steps if s.id == step_id)


def test_the_error_rate_is_that_since_the_last_run_not_the_backends_lifetime(
    sqlite_wms: Wms,
) -> None:
    """Review item 3: ten minutes of 8 % errors after three days of good traffic are
    0.2 % of the lifetime counters; the morning check and P2 judge the errors since their
    last run (the runner's history), P4 the failed Celery tasks likewise."""
    demo = sqlite_wms
    demo.advance(3 * 86400)  # three days of uptime
    first = demo.run("wms-health")  # no earlier run: since the backend started
    assert (str(first.status), fired(first)) == ("OK", {}), statuses(first)
    assert _step(first, "last_counts").values["row"]["found"] == 0
    assert str(demo.run("wms-p2-error-rate").status) == "OK"
    assert str(demo.run("wms-p4-celery").status) == "OK"

    demo.faults("high-error-rate", "celery-failing")
    demo.advance(600)
    health = demo.run("wms-health")
    rate = _step(health, "error_rate")
    assert 100 * rate.values["errors"] / rate.values["requests"] < 1  # the lifetime ratio
    assert (str(health.status), fired(health)) == (
        "CRITICAL",
        {"error_rate": "CRITICAL", "logs": "WARNING"},
    )
    (evaluation,) = rate.evaluations
    assert evaluation.value == pytest.approx(8.0, abs=0.1)
    assert "requests since the last check" in (rate.hint or "")
    p2 = demo.run("wms-p2-error-rate")
    assert fired(p2) == {"logs": "WARNING", "error_rate": "CRITICAL"}, statuses(p2)
    assert "requests since the last run" in (_step(p2, "error_rate").hint or "")
    p4 = demo.run("wms-p4-celery")
    assert fired(p4) == {"tasks": "CRITICAL", "worker_log": "WARNING"}, statuses(p4)
    assert "failed since the last run" in (_step(p4, "tasks").hint or "")


@pytest.mark.integration
def test_the_error_rate_since_the_last_run_from_a_postgresql_state_store(
    postgres: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """sql/postgres/wms/last_counts.sql: the history in a shared PostgreSQL store."""
    monkeypatch.chdir(tmp_path)
    with _serving(tmp_path, None, state_odbc=postgres) as demo:
        demo.advance(3 * 86400)
        assert str(demo.run("wms-p2-error-rate").status) == "OK"
        demo.faults("high-error-rate")
        demo.advance(600)
        run = demo.run("wms-p2-error-rate")
        last = _step(run, "last_counts").values["row"]
        assert last["found"] == 1 and last["minutes_ago"] == 0
        assert fired(run) == {"logs": "WARNING", "error_rate": "CRITICAL"}, statuses(run)


def test_without_an_earlier_run_the_error_rate_is_since_the_backend_started(
    sqlite_wms: Wms,
) -> None:
    demo = sqlite_wms
    demo.faults("high-error-rate")
    demo.advance(3600)
    run = demo.run("wms-health")  # an hour of 8 % in 50,000 earlier requests: 4 %
    assert (str(run.status), fired(run)) == (
        "WARNING",
        {"error_rate": "WARNING", "logs": "WARNING"},
    )
    assert "requests since the backend started" in (_step(run, "error_rate").hint or "")


def test_the_morning_check_reports_to_the_team_and_the_p1_runbook_pages() -> None:
    """Review item 14: its comment said it does not page, yet it paged on-call."""
    import yaml

    def notify(name: str) -> Any:
        text = (REPO / "runbooks" / "wms" / f"{name}.yaml").read_text("utf-8")
        return yaml.safe_load(text)["notify"]

    assert notify("health")["critical"] == ["ops"]
    assert "oncall" in notify("p1-outage")["critical"]


def test_the_expiry_limits_are_inputs_marked_as_ours(demo: Wms) -> None:
    """Review item 15: the seed names no expiry limits; 7 and 30 days are ours."""
    demo.faults("expiring")  # batches expiring in 3 and 10 days
    run = demo.run("wms-inventory", {"critical_days": "2", "warning_days": "5"})
    assert (str(run.status), fired(run)) == ("WARNING", {"expiring": "WARNING"}), statuses(run)
    expiring = _step(run, "expiring")
    assert expiring.values["row"]["expiring_warning"] == 1  # the one in 3 days
    assert "1 batches in stock expire within 5 days (0 within 2" in (expiring.hint or "")
    import yaml

    shipped = yaml.safe_load((REPO / "runbooks" / "wms" / "inventory.yaml").read_text("utf-8"))
    limits = [t for s in shipped["steps"] for t in (s.get("thresholds") or {}).values()]
    assert len(limits) == 4 and all("(ours)" in t["description"] for t in limits)


# -- stuck queries ----------------------------------------------------------------------


def _stuck_pids(odbc: str) -> list[int]:
    import pyodbc

    with contextlib.closing(pyodbc.connect(odbc, autocommit=True, timeout=5)) as db:
        rows = db.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND application_name = 'wms-celery-worker' AND state = 'active'"
        ).fetchall()
    return [int(row[0]) for row in rows]


def _await_seconds_old(odbc: str, seconds: float) -> None:
    """Until the stuck query has run `seconds` by PostgreSQL's clock (its query_start),
    which no test can move: a bound, not an assertion on time."""
    import pyodbc

    with contextlib.closing(pyodbc.connect(odbc, autocommit=True, timeout=5)) as db:
        for _ in range(200):
            age = db.execute(
                "SELECT COALESCE(MAX(EXTRACT(EPOCH FROM now() - query_start)), 0)"
                " FROM pg_stat_activity WHERE application_name = 'wms-celery-worker'"
                " AND state = 'active' AND datname = current_database()"
            ).fetchone()[0]
            if float(age) > seconds:
                return
            time.sleep(0.05)
    raise AssertionError("the stuck query never showed in pg_stat_activity")


def test_stuck_queries_says_it_needs_postgresql_on_sqlite(sqlite_wms: Wms) -> None:
    demo = sqlite_wms
    demo.faults("stuck-queries")  # a no-op on SQLite: there is no server to run it on
    run = demo.run("wms-stuck-queries", {"terminate": "true"}, assume_yes=True)
    # UNKNOWN (exit 3): it cannot look, which says nothing of stuck queries
    assert (str(run.status), fired(run)) == ("UNKNOWN", {"engine": "UNKNOWN"})
    (engine,) = [s for s in run.steps if s.id == "engine"]
    message = engine.evaluations[0].text
    assert "pg_stat_activity needs PostgreSQL" in message and "SQLite" in message
    assert statuses(run) == {"engine": "UNKNOWN"}  # nothing else was tried


@pytest.mark.integration
def test_stuck_queries_finds_and_terminates_a_real_long_query(pg_wms: Wms) -> None:
    demo = pg_wms
    assert demo.odbc is not None
    assert str(demo.run("wms-stuck-queries").status) == "OK"
    demo.faults("stuck-queries")
    (pid,) = _stuck_pids(demo.odbc)
    # The seed's 5 s would make this test wait 5 s: the threshold is an input, 1 s here.
    _await_seconds_old(demo.odbc, 1.0)
    report = demo.run("wms-stuck-queries", {"min_seconds": "1"})
    assert (str(report.status), fired(report)) == ("WARNING", {"stuck": "WARNING"})
    (stuck,) = [s for s in report.steps if s.id == "stuck"]
    assert [row["pid"] for row in stuck.values["rows"]] == [pid]
    assert "pg_sleep" in stuck.values["rows"][0]["query"]
    assert f"pid {pid} (wms-celery-worker" in (stuck.hint or "")
    assert _stuck_pids(demo.odbc) == [pid]  # a report ends nothing

    ended = demo.run(
        "wms-stuck-queries", {"min_seconds": "1", "terminate": "true"}, assume_yes=True
    )
    # review item 17: ended, and none left, the run is OK (step `after` is the verdict)
    assert (str(ended.status), fired(ended)) == ("OK", {}), statuses(ended)
    assert [statuses(ended)[s] for s in ("found", "terminate", "after")] == ["OK"] * 3
    (item,) = _step(ended, "terminate").children
    assert item.title == f"name=pid {pid} (wms-celery-worker)"  # not the row's dict
    assert "stuck" not in statuses(ended)  # its hint (--param terminate=true) is not shown
    assert _stuck_pids(demo.odbc) == []  # pg_terminate_backend really ended it


@pytest.mark.integration
def test_the_stuck_query_runs_as_soon_as_the_fault_is_switched_on(pg_wms: Wms) -> None:
    """Review item 19: no request to the demo after the switch, and it runs already."""
    demo = pg_wms
    assert demo.odbc is not None
    demo.served.state.set_faults(["stuck-queries"])  # as PUT /_demo/faults does
    _await_seconds_old(demo.odbc, 1.0)
    run = demo.run("wms-stuck-queries", {"min_seconds": "1"})
    assert (str(run.status), fired(run)) == ("WARNING", {"stuck": "WARNING"})
    demo.served.state.set_faults([])
    assert _stuck_pids(demo.odbc) == []  # and ends as soon as it is switched off


def test_stuck_queries_terminate_needs_yes_without_a_terminal(demo: Wms) -> None:
    from runner.base.errors import ConfirmationRefused

    with pytest.raises(ConfirmationRefused, match="end_backend must be confirmed"):
        demo.run("wms-stuck-queries", {"terminate": "true"})
    # no --yes needed; on SQLite it cannot look (UNKNOWN)
    expected = ("OK", "WARNING") if demo.odbc else ("UNKNOWN",)
    assert str(demo.run("wms-stuck-queries").status) in expected


@pytest.mark.integration
def test_p2_looks_at_stuck_queries_on_postgresql(pg_wms: Wms) -> None:
    demo = pg_wms
    assert demo.odbc is not None
    demo.faults("stuck-queries")
    _await_seconds_old(demo.odbc, 1.0)
    run = demo.run("wms-p2-error-rate", {"slow_query_seconds": "1"})  # the seed's 5 s: default
    assert (str(run.status), fired(run)) == ("WARNING", {"slow_queries": "WARNING"})
    assert statuses(run)["slow_queries.stuck"] == "WARNING"


# -- backup, restore test, maintenance --------------------------------------------------


def _database(odbc: str) -> str:
    return odbc.split("DATABASE=")[1].split(";")[0]


def _backup_params(demo: Wms) -> dict[str, str]:
    """What the backup needs to reach the test's PostgreSQL; the method is the default,
    auto: the engine's (review item 4: pg_dump on PostgreSQL, online on SQLite)."""
    if demo.odbc is None:
        return {}
    return {"pg_user": "postgres", "pg_database": _database(demo.odbc)}


def test_backup_then_restore_test_counts_every_row_back(fresh: Wms) -> None:
    backup = fresh.run("wms-backup", _backup_params(fresh))
    assert str(backup.status) == "OK", statuses(backup)
    folder = fresh.root / "var" / "demo" / "wms" / "backups"
    (copy,) = folder.glob("wms-*")
    assert copy.suffix == (".dump" if fresh.odbc else ".db")

    params = {"pg_user": "postgres"} if fresh.odbc else {}
    restore = fresh.run("wms-restore-test", params)
    assert str(restore.status) == "OK", statuses(restore)
    ran = statuses(restore)
    if fresh.odbc:
        assert [ran[s] for s in ("createdb", "pg_restore", "restored", "dropdb")] == ["OK"] * 4
        scratch = next(s for s in restore.steps if s.id == "createdb").values
        assert scratch["exit_code"] == 0
        restored = next(s for s in restore.steps if s.id == "restored").values["stdout"]
        assert restored.strip() == "24,9,6"  # stock rows, batches, users: all of them
        import pyodbc

        admin = pyodbc.connect(PG_ADMIN, autocommit=True, timeout=5)
        left = admin.execute(
            "SELECT COUNT(*) FROM pg_database WHERE datname LIKE 'wms_restore_test_%'"
        ).fetchone()[0]
        admin.close()
        assert left == 0  # the scratch database was dropped again
    else:
        assert [ran[s] for s in ("attach", "compare", "detach")] == ["OK"] * 3
        compare = next(s for s in restore.steps if s.id == "compare").values["row"]
        assert compare["restored_stock"] == compare["live_stock"] == 24


def test_a_backup_method_that_is_not_the_engines_says_which_to_take(fresh: Wms) -> None:
    """Review item 4: the wrong method explicitly asked for is CRITICAL with a hint."""
    wrong = {"method": "online"} if fresh.odbc else {"method": "pg_dump", "pg_user": "nobody"}
    run = fresh.run("wms-backup", {**_backup_params(fresh), **wrong})
    step = "online" if fresh.odbc else "pg_dump"
    assert (str(run.status), fired(run)) == ("CRITICAL", {step: "CRITICAL"}), statuses(run)
    if fresh.odbc:
        assert "--param method=pg_dump" in (_step(run, "online").hint or "")
        assert "PostgreSQL" in (_step(run, "online").hint or "")


def test_the_sqlite_restore_test_works_from_any_working_folder(
    sqlite_wms: Wms, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # as cron starts it: not in runner.yaml's folder
    relative = {"WMS_BACKUPS": "var/demo/wms/backups"}  # as written in the environment
    assert str(sqlite_wms.run("wms-backup", env=relative).status) == "OK"
    restore = sqlite_wms.run("wms-restore-test", env=relative)
    assert str(restore.status) == "OK", statuses(restore)
    compare = next(s for s in restore.steps if s.id == "compare").values["row"]
    assert compare["restored_stock"] == compare["live_stock"] == 24
    assert list(elsewhere.iterdir()) == []  # SQLite made no empty copy here


def test_restore_test_without_a_backup_is_critical(fresh: Wms, tmp_path: Path) -> None:
    empty = tmp_path / "no-backups"
    empty.mkdir()
    params = {"pg_user": "postgres"} if fresh.odbc else {}
    run = fresh.run("wms-restore-test", params, env={"WMS_BACKUPS": str(empty)})
    assert (str(run.status), fired(run)) == ("CRITICAL", {"newest": "CRITICAL"})


def test_weekly_maintenance(fresh: Wms, tmp_path: Path) -> None:
    assert str(fresh.run("wms-backup", _backup_params(fresh)).status) == "OK"
    run = fresh.run("wms-weekly-maintenance")
    assert (str(run.status), fired(run)) == ("OK", {}), statuses(run)
    assert statuses(run)["vacuum"] == "OK"
    size = next(s for s in run.steps if s.id == "db_size").values["row"]["size_mb"]
    assert float(size) > 0

    fresh.faults("celery-failing")
    fresh.advance(3600)  # an hour of failing tasks since the last run
    run = fresh.run("wms-weekly-maintenance")
    assert (str(run.status), fired(run)) == ("CRITICAL", {"celery_stats": "CRITICAL"})

    fresh.faults()
    fresh.advance(3600)  # a healthy hour (a week, in production) until the next run
    empty = tmp_path / "no-backups"
    empty.mkdir()
    run = fresh.run("wms-weekly-maintenance", env={"WMS_BACKUPS": str(empty)})
    assert (str(run.status), fired(run)) == ("CRITICAL", {"backup": "CRITICAL"})


def test_weekly_maintenance_rehearsed_skips_vacuum(fresh: Wms) -> None:
    assert str(fresh.run("wms-backup", _backup_params(fresh)).status) == "OK"
    run = fresh.run("wms-weekly-maintenance", mode="rehearse")
    assert str(run.status) == "OK", statuses(run)
    assert "vacuum" not in statuses(run)  # skipped: it cannot run in a transaction


def test_monthly_maintenance_archives_old_logs_and_lists_stale_accounts(fresh: Wms) -> None:
    assert str(fresh.run("wms-backup", _backup_params(fresh)).status) == "OK"
    logs = fresh.root / "var" / "demo" / "wms" / "logs"
    old = sorted(p.name for p in logs.glob("*.log") if time.time() - p.stat().st_mtime > 30 * 86400)
    assert len(old) == 2 * 9  # 40 days of two logs: 9 days of each are past 30 days
    params = {"pg_user": "postgres"} if fresh.odbc else {}
    run = fresh.run("wms-monthly-maintenance", params)
    assert (str(run.status), fired(run)) == ("OK", {}), statuses(run)
    assert sorted(p.name for p in (logs / "archive").glob("*.log")) == old
    assert not any((logs / name).exists() for name in old)
    assert statuses(run)["restore_test"] == "OK"

    fresh.faults("stale-accounts")
    run = fresh.run("wms-monthly-maintenance", params)
    assert (str(run.status), fired(run)) == ("WARNING", {"inactive_users": "WARNING"}), statuses(
        run
    )
    (users,) = [s for s in run.steps if s.id == "inactive_users"]
    assert "toth.gabor (warehouse)" in (users.hint or "")


def test_the_retentions_are_inputs(fresh: Wms) -> None:
    folder = fresh.root / "var" / "demo" / "wms" / "backups"
    folder.mkdir(parents=True, exist_ok=True)
    stale, recent = folder / "wms-20260101-011500.db", folder / "wms-20260102-011500.db"
    for copy, days in ((stale, 12), (recent, 8)):
        copy.write_bytes(b"an old copy")
        stamp = time.time() - days * 86400
        os.utime(copy, (stamp, stamp))
    run = fresh.run("wms-backup", {**_backup_params(fresh), "keep_days": "10"})
    assert str(run.status) == "OK", statuses(run)
    (old_backups,) = [s for s in run.steps if s.id == "old_backups"]
    assert old_backups.values["files"] == [stale.name]  # 12 days; kept for 30 by default
    assert recent.exists() and not stale.exists()
    assert old_backups.title == "Delete backups older than 10 days"

    logs = fresh.root / "var" / "demo" / "wms" / "logs"
    old = sorted(p.name for p in logs.glob("*.log") if time.time() - p.stat().st_mtime > 35 * 86400)
    assert 0 < len(old) < 2 * 9  # fewer than past 30 days
    params = {"pg_user": "postgres"} if fresh.odbc else {}
    run = fresh.run("wms-monthly-maintenance", {**params, "log_days": "35"})
    assert str(run.status) == "OK", statuses(run)
    assert sorted(p.name for p in (logs / "archive").glob("*.log")) == old


# -- Debian's prometheus scrapes the demo -----------------------------------------------


def test_debian_prometheus_scrapes_the_wms_demo_and_p2_reads_it_back(
    sqlite_wms: Wms, tmp_path: Path
) -> None:
    """/usr/bin/prometheus scrapes the demo's /metrics every second; wms-p2-error-rate's
    `prometheus: {server, query}` step asks it for the error rate of the last 5 minutes."""
    import subprocess
    from urllib.parse import urlencode

    binary = shutil.which("prometheus")
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("prometheus is missing: scripts/test installs Debian's prometheus")
        pytest.skip("prometheus is not installed (apt-get install prometheus)")
    web = _free_port()
    target = sqlite_wms.url.removeprefix("http://")
    (tmp_path / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        f"  - job_name: wms\n    static_configs: [{{targets: ['{target}']}}]\n",
        encoding="utf-8",
    )
    log = tmp_path / "prometheus.log"
    server = subprocess.Popen(
        [
            binary,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{web}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )
    prometheus = f"http://127.0.0.1:{web}"

    def holds(expression: str) -> bool:
        """Whether the query returns a series now (a bound loop waits on Prometheus's
        scrapes, which run on its own clock: nothing to assert on time)."""
        url = f"{prometheus}/api/v1/query?" + urlencode({"query": expression})
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                return bool(json.load(answer)["data"]["result"])
        except OSError:
            return False

    def wait_for(expression: str) -> None:
        for _ in range(600):
            if holds(expression) or server.poll() is not None:
                break
            time.sleep(0.1)
        text = log.read_text(encoding="utf-8", errors="replace")
        assert holds(expression), f"Prometheus never answered {expression}: {text[-2000:]}"

    env = {"PROMETHEUS_URL": prometheus}
    try:
        wait_for('up{job="wms"} == 1 and on() wms_db_connections_active == 12')
        wait_for("sum(rate(wms_http_requests_total[5m])) > 0")  # two scrapes at least
        run = sqlite_wms.run("wms-p2-error-rate", env=env)
        assert (str(run.status), fired(run)) == ("OK", {}), statuses(run)
        (step,) = [s for s in run.steps if s.id == "error_rate_5m"]
        assert step.values["query"].startswith("100 * sum(rate(wms_errors_total[5m]))")
        assert 0 <= step.values["value"] < 1

        sqlite_wms.faults("high-error-rate")
        wait_for(
            "100 * sum(rate(wms_errors_total[5m])) / sum(rate(wms_http_requests_total[5m])) > 5"
        )
        run = sqlite_wms.run("wms-p2-error-rate", env=env)
        assert fired(run) == {"logs": "WARNING", "error_rate_5m": "CRITICAL"}, statuses(run)
        assert "error_rate" not in statuses(run)  # the counters' growth: without Prometheus
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.integration
def test_demo_reset_rebuilds_the_wms_tables_on_postgresql(
    pg_wms: Wms, capsys: pytest.CaptureFixture[str]
) -> None:
    import pyodbc

    assert pg_wms.odbc is not None
    with contextlib.closing(pyodbc.connect(pg_wms.odbc, autocommit=True, timeout=5)) as db:
        db.execute("UPDATE wms_stock SET quantity = -1")
        db.execute("CREATE TABLE wms_keep (x INTEGER)")  # not the demo's: left alone
    assert main(["--config", str(pg_wms.root / "runner.yaml"), "demo", "reset", "wms"]) == 0
    assert "demo wms (wms): rebuilt its tables on the server" in capsys.readouterr().out
    with contextlib.closing(pyodbc.connect(pg_wms.odbc, autocommit=True, timeout=5)) as db:
        assert db.execute("SELECT MIN(quantity) FROM wms_stock").fetchone()[0] > 0
        assert db.execute("SELECT COUNT(*) FROM wms_keep").fetchone()[0] == 0
        db.execute("DROP TABLE wms_keep")


def test_demo_reset_on_an_unreachable_server_says_so_and_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "runner.yaml").write_text(
        "connections:\n"
        "  wms: {odbc: 'DRIVER={PostgreSQL Unicode};SERVER=127.0.0.1;PORT=1;DATABASE=x;UID=x',"
        " dialect: postgres, demo: wms}\n",
        encoding="utf-8",
    )
    assert main(["--config", str(tmp_path / "runner.yaml"), "demo", "reset", "wms"]) == 3
    err = capsys.readouterr().err
    assert "runbook: demo wms (wms):" in err and "nothing changed" in err
    assert "Traceback" not in err


def test_p1_tests_the_database_port_when_given_a_host(demo: Wms) -> None:
    closed = _free_port()
    run = demo.run("wms-p1-outage", {"db_host": "127.0.0.1", "db_port": str(closed)})
    assert (str(run.status), fired(run)) == ("CRITICAL", {"db_port": "CRITICAL"})
    if demo.backend == "postgres":
        run = demo.run("wms-p1-outage", {"db_host": "127.0.0.1", "db_port": "5432"})
        assert (str(run.status), statuses(run)["db_port"]) == ("OK", "OK")


def test_the_health_check_asks_the_frontend_when_told_where(demo: Wms) -> None:
    run = demo.run("wms-health", env={"WMS_FRONTEND_URL": demo.url})  # it has a /health too
    assert (str(run.status), statuses(run)["frontend"]) == ("OK", "OK")
    down = f"http://127.0.0.1:{_free_port()}"
    run = demo.run("wms-health", env={"WMS_FRONTEND_URL": down})
    assert (str(run.status), fired(run)) == ("CRITICAL", {"frontend": "CRITICAL"})
