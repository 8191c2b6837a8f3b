"""runbooks/edi end to end: each runbook run through `runbook run` against the edi demo
(served on a free port, EDI_URL pointing at it), healthy and in each fault it is meant to
catch: the run's status and exactly which steps fired, at which severity."""

from __future__ import annotations

import functools
import json
import os
import shutil
import socket
import sqlite3
import tarfile
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from runner.cli.main import main
from runner.demos import system
from runner.demos.base import DemoState
from runner.demos.server import Served, serving

REPO = Path(__file__).resolve().parent.parent


class Edi:
    """The shipped configuration, runbooks and SQL in a folder of their own, and the edi
    demo serving its files from var/demo/edi there."""

    def __init__(self, root: Path, state: DemoState, capsys: pytest.CaptureFixture[str]) -> None:
        self.root = root
        self.state = state
        self.home = state.root
        self.capsys = capsys

    def run(self, name: str, *args: str) -> tuple[int, dict[str, Any]]:
        self.capsys.readouterr()
        code = main(["run", name, *args, "--format", "json"])
        return code, json.loads(self.capsys.readouterr().out)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def edi(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Iterator[Edi]:
    """The demo, started with the faults given as the fixture's parameter (as `runbook demo
    serve edi --fault F` does: its files say so before the first request)."""
    for name in ("runbooks", "checks", "sql"):
        shutil.copytree(REPO / name, tmp_path / name)
    shutil.copy(REPO / "runner.yaml", tmp_path / "runner.yaml")
    monkeypatch.chdir(tmp_path)
    for variable in ("RUNBOOK_CONFIG", "EDI_HOME"):
        monkeypatch.delenv(variable, raising=False)
    # Retries of a 503 wait without a real clock (as tests/conftest.py's services do).
    import runner.service.runs as runs

    monkeypatch.setattr(runs, "RunService", functools.partial(runs.RunService, sleep=_no_wait))
    param = getattr(request, "param", [])
    # a list of faults, or {"faults": [...], "clock": callable}
    faults, clock = (
        (param, time.time) if isinstance(param, list) else (param["faults"], param["clock"])
    )
    state = DemoState(tmp_path / "var" / "demo" / "edi", faults=faults, clock=clock)
    served = Served(system("edi"), state, "127.0.0.1", _free_port())
    with serving([served]):
        monkeypatch.setenv("EDI_URL", served.url)
        yield Edi(tmp_path, state, capsys)


def _no_wait(seconds: float) -> None:
    return None


#: `system` steps: they measure this machine (its disk, memory, CPU), not the demo, so
#: they are left out of `fired` and only raise the run's status to their own.
MEASURED = {"host", "host_disk", "resources"}
ORDER = ["OK", "WARNING", "CRITICAL", "UNKNOWN"]


def fired(result: dict[str, Any]) -> dict[str, str]:
    """The steps that were not OK (nor skipped), measured ones aside: id -> status."""
    return {
        step["id"]: step["status"]
        for step in result["steps"]
        if step["status"] not in ("OK", "SKIPPED") and step["id"] not in MEASURED
    }


def expected_status(result: dict[str, Any], status: str) -> str:
    """`status`, or worse when a measured step found this machine worse."""
    measured = [step["status"] for step in result["steps"] if step["id"] in MEASURED]
    return max([status, *(m for m in measured if m in ORDER)], key=ORDER.index)


C, W = "CRITICAL", "WARNING"

# (runbook, faults, status, the steps that fire)
CASES = [
    ("edi-health", [], "OK", {}),
    (
        "edi-health",
        ["files-stuck"],
        C,
        {"up": C, "processing": C, "rate": C, "pickup": C, "log": W},
    ),
    (
        "edi-health",
        ["permissions"],
        C,
        {"processing": C, "rate": W, "errors": C, "pickup": C, "error_codes": C, "log": W},
    ),
    (
        "edi-health",
        ["high-error-rate"],
        C,
        {"errors": C, "error_folder": C, "error_codes": C, "log": W},
    ),
    (
        "edi-health",
        ["sterling-down"],
        C,
        {"errors": C, "dependencies": C, "error_folder": W, "error_codes": C, "log": W},
    ),
    (
        "edi-health",
        ["acumatica-auth"],
        C,
        {"errors": C, "dependencies": C, "error_folder": W, "error_codes": C, "log": W},
    ),
    (
        "edi-health",
        ["slow"],
        C,
        {"rate": W, "errors": W, "timing": C, "dependencies": W, "pickup": C},
    ),
    ("edi-health", ["disk-full"], C, {"errors": C, "disk": C, "error_codes": W, "log": W}),
    ("edi-health", ["api-down"], C, {"up": C}),
    ("edi-health", ["quiet-night"], "OK", {}),
    ("edi-files-not-processing", [], "OK", {}),
    (
        "edi-files-not-processing",
        ["files-stuck"],
        C,
        {"queue": C, "pickup": C, "monitor": C, "log_quiet": C, "log_errors": W},
    ),
    (
        "edi-files-not-processing",
        ["permissions"],
        C,
        {"queue": W, "pickup": C, "log_errors": W, "permissions": C},
    ),
    ("edi-files-not-processing", ["disk-full"], C, {"log_errors": W, "disk": C}),
    (
        "edi-files-not-processing",
        ["api-down"],
        C,
        {"queue": C, "monitor": C},
    ),
    ("edi-high-error-rate", [], "OK", {}),
    (
        "edi-high-error-rate",
        ["high-error-rate"],
        C,
        {"error_rate": C, "error_files": C, "error_log": W, "validation": C},
    ),
    (
        "edi-high-error-rate",
        ["sterling-down"],
        C,
        {"error_rate": C, "error_files": W, "error_log": W, "sterling": C, "error_codes": C},
    ),
    (
        "edi-high-error-rate",
        ["acumatica-auth"],
        C,
        {"error_rate": C, "error_files": W, "error_log": W, "acumatica": C, "error_codes": C},
    ),
    (
        "edi-high-error-rate",
        ["permissions"],
        C,
        {"error_rate": C, "error_log": W, "error_codes": C},
    ),
    ("edi-slow-processing", [], "OK", {}),
    (
        "edi-slow-processing",
        ["slow"],
        C,
        {"timing": C, "trend": C, "workers": C, "database": W, "file_sizes": W},
    ),
    ("edi-slow-processing", ["sterling-down"], C, {"network": C}),
    ("edi-backup-check", [], "OK", {}),
    (
        "edi-backup-check",
        ["backup-stale"],
        C,
        {"config_backup": C, "metrics_backup": C, "logs_backup": W},
    ),
    ("edi-backup-check", ["backup-corrupt"], C, {"metrics_restore": C}),
    # runner.yaml as shipped configures no notifications: the stakeholders heard nothing
    ("edi-incident", [], W, {"stakeholders": W}),
    ("edi-incident", ["files-stuck"], C, {"status": C, "stakeholders": W}),
    ("edi-incident", ["sterling-down"], C, {"status": C, "connectivity": C, "stakeholders": W}),
    ("edi-monthly-maintenance", [], "OK", {}),
    ("edi-monthly-maintenance", ["high-error-rate"], W, {"performance": W}),
]


@pytest.mark.parametrize(
    "runbook, edi, status, steps",
    CASES,
    ids=[f"{case[0]}-{'+'.join(case[1]) or 'healthy'}" for case in CASES],
    indirect=["edi"],
)
def test_each_runbook_fires_on_the_faults_it_is_meant_to_catch(
    edi: Edi, runbook: str, status: str, steps: dict[str, str]
) -> None:
    code, result = edi.run(runbook)
    status = expected_status(result, status)
    assert (result["status"], fired(result)) == (status, steps)
    assert code == ORDER.index(status)


def test_hints_end_in_the_seeds_resolution(edi: Edi) -> None:
    """Each troubleshooting runbook's bad steps say what the seed says to do."""
    hints = {}
    for fault, runbook in [
        ("files-stuck", "edi-files-not-processing"),
        ("acumatica-auth", "edi-high-error-rate"),
        ("slow", "edi-slow-processing"),
    ]:
        edi.state.set_faults([fault])
        _, result = edi.run(runbook)
        hints[runbook] = " ".join(
            " ".join(step["hint"].split()) for step in result["steps"] if step.get("hint")
        )
    assert "Resolution: restart the service" in hints["edi-files-not-processing"]
    assert "Verify API credentials" in hints["edi-high-error-rate"]
    assert (
        "E005 API error: 15 -> Verify API credentials and connectivity"
        in hints["edi-high-error-rate"]
    )
    for resolution in (
        "increase processing workers",
        "optimize database queries",
        "check network connectivity",
        "review file sizes",
    ):
        assert resolution in hints["edi-slow-processing"]


def test_the_p1_steps_page_at_once_and_p4_steps_tell_nobody(edi: Edi) -> None:
    """The severity levels as notify policies: `runbook show` prints each step's alert."""
    from runner.language.config import load_config
    from runner.language.library import Library
    from runner.steps import STEP_TYPES

    library = Library(load_config(edi.root / "runner.yaml"), STEP_TYPES)
    health = library.runbook("edi-health")
    alerts = {step.id: step.alert for step in health.steps if step.alert is not None}
    assert set(alerts) == {"up", "processing", "error_codes", "log"}
    ladder = [{"after": "30m", "to": ["dev"]}, {"after": "2h", "to": ["management"]}]
    for p1 in ("up", "processing"):
        assert alerts[p1]["critical"] == ["ops", "oncall"] and "after" not in alerts[p1]
        assert alerts[p1]["escalate"] == ladder  # Escalation levels 2 and 3
    for p4 in ("error_codes", "log"):
        assert alerts[p4]["warning"] == []
    assert health.notify is not None
    assert (health.notify["warning"], health.notify["repeat"]) == (["ops"], "24h")  # P3
    assert health.notify["escalate"] == ladder


def test_a_wrong_address_is_critical_not_a_traceback(edi: Edi, monkeypatch) -> None:
    monkeypatch.setenv("EDI_URL", f"http://127.0.0.1:{_free_port()}")
    code, result = edi.run("edi-slow-processing")
    assert code == 2 and fired(result)["timing"] == C
    assert "cannot connect" in result["steps"][0]["error"]


def test_weekly_maintenance_archives_and_keeps_the_last_30_days(edi: Edi) -> None:
    logs = edi.home / "logs"
    before = sorted(path.name for path in logs.glob("edi_processor_*.log"))
    assert len(before) == 46  # 45 days and today
    with closing(sqlite3.connect(edi.home / "metrics" / "edi_metrics.db")) as db:
        oldest = db.execute("SELECT MIN(processed_at) FROM processing_metrics").fetchone()[0]
    code, result = edi.run("edi-weekly-maintenance")
    assert (code, fired(result)) == (ORDER.index(expected_status(result, "OK")), {})
    after = sorted(path.name for path in logs.glob("edi_processor_*.log"))
    assert after == before[-30:]  # the 29 days before today's, and today's
    steps = {step["id"]: step for step in result["steps"]}
    assert steps["old_logs"]["values"]["count"] == 16
    archive = next((edi.home / "backups").glob("logs_backup_*.tar.gz"))
    with tarfile.open(archive) as tar:
        assert f"logs/{before[0]}" in tar.getnames()  # archived before it was deleted
    with closing(sqlite3.connect(edi.home / "metrics" / "edi_metrics.db")) as db:
        left = db.execute(
            # a minute of slack: rows cross the 90 days' line between the DELETE and this
            "SELECT COUNT(*) FROM processing_metrics"
            " WHERE processed_at < datetime('now', '-90 days', '-1 minutes')"
        ).fetchone()[0]
        assert oldest < db.execute("SELECT MIN(processed_at) FROM processing_metrics").fetchone()[0]
    assert left == 0 and steps["metrics_cleanup"]["values"]["rowcount"] > 0


def test_weekly_maintenance_rehearsed_deletes_nothing(edi: Edi) -> None:
    logs = sorted((edi.home / "logs").iterdir())
    code, result = edi.run("edi-weekly-maintenance", "--rehearse", "--yes")
    assert code == 0
    assert sorted((edi.home / "logs").iterdir()) == logs


@pytest.mark.parametrize("edi", [["disk-full"]], indirect=True)
def test_weekly_maintenance_still_full_after_clean_up_is_critical(edi: Edi) -> None:
    """The checks report, and the clean-up still runs to its end."""
    code, result = edi.run("edi-weekly-maintenance")
    assert (code, fired(result)) == (2, {"disk": C, "sample": C})  # E001: no space left
    assert len(list((edi.home / "logs").glob("*.log"))) == 30
    assert result["steps"][-1]["id"] == "metrics_cleanup"
    assert result["steps"][-1]["status"] == "OK"


def test_a_backup_fault_switched_while_serving_is_on_disk_at_once(edi: Edi) -> None:
    """edi-backup-check reads only files, no API: the files follow the switch itself."""
    assert edi.run("edi-backup-check")[0] == 0
    edi.state.set_faults(["backup-corrupt"])  # no request to the demo in between
    code, result = edi.run("edi-backup-check")
    assert (code, fired(result)) == (2, {"metrics_restore": C})
    edi.state.set_faults([])
    assert edi.run("edi-backup-check")[0] == 0


@pytest.mark.parametrize("edi", [["backup-corrupt"]], indirect=True)
def test_a_new_backup_repairs_a_corrupt_one(edi: Edi) -> None:
    assert edi.run("edi-backup-check")[0] == 2
    code, result = edi.run("edi-backup")
    assert (code, fired(result)) == (0, {})
    steps = {step["id"]: step for step in result["steps"]}
    assert steps["metrics_backup"]["values"]["integrity"] == "ok"
    assert steps["remote_copy"]["status"] == "SKIPPED"
    code, result = edi.run("edi-backup-check")
    assert (code, fired(result)) == (0, {})
    names = {step["id"]: step["values"] for step in result["steps"]}
    assert (
        names["metrics_backup"]["files"][-1] == Path(steps["metrics_backup"]["values"]["path"]).name
    )


def test_production_is_reached_through_edi_home(edi: Edi, monkeypatch, tmp_path) -> None:
    """EDI_HOME moves every folder the runbooks read; a folder that is not there says so."""
    monkeypatch.setenv("EDI_HOME", os.fspath(tmp_path / "elsewhere"))
    code, result = edi.run("edi-backup-check")
    assert code == 2
    assert fired(result) == {"config_backup": C, "metrics_backup": C, "logs_backup": C}


class _Hook:
    """A webhook on 127.0.0.1 that keeps what Apprise's json:// posts to it."""

    def __init__(self) -> None:
        import http.server
        import threading

        received = self.received = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                received.append((self.path.strip("/"), body["title"], body["message"]))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def hook(edi: Edi) -> Iterator[_Hook]:
    hook = _Hook()
    tags = ("ops", "oncall", "dev", "management")
    urls = {tag: [f"json://127.0.0.1:{hook.port}/{tag}"] for tag in tags}
    with open(edi.root / "runner.yaml", "a", encoding="utf-8") as config:
        config.write(f"notifications:\n  urls: {json.dumps(urls)}\n")
    yield hook
    hook.server.shutdown()
    hook.server.server_close()


@pytest.mark.parametrize("edi", [["files-stuck"]], indirect=True)
def test_an_incident_notifies_the_stakeholders_its_severity_names(edi: Edi, hook: _Hook) -> None:
    assert edi.run("edi-incident", "--param", "summary=files pile up in pickup")[0] == 2
    stakeholders = {(tag, title) for tag, title, _ in hook.received if "EDI processor" in title}
    assert stakeholders == {
        ("ops", "[P1] EDI processor: files pile up in pickup"),
        ("oncall", "[P1] EDI processor: files pile up in pickup"),
    }
    body = next(message for _, title, message in hook.received if "EDI processor" in title)
    assert "edi-health is CRITICAL" in body and "File monitor stopped" in body
    assert "- up: CRITICAL" in body and "- pickup: CRITICAL" in body and "- disk:" not in body
    hook.received.clear()
    edi.run("edi-incident", "--param", "severity=P3", "--param", "summary=minor delays")
    assert [(tag, title) for tag, title, _ in hook.received if "EDI processor" in title] == [
        ("ops", "[P3] EDI processor: minor delays")
    ]


@pytest.mark.parametrize("edi", [["files-stuck"]], indirect=True)
def test_the_health_check_pages_p1_and_tells_p2_to_ops(edi: Edi, hook: _Hook) -> None:
    """files-stuck: the P1 steps (up, processing) page ops and oncall; the P2 ones (rate,
    pickup) tell ops; the P4 log step tells nobody."""
    assert edi.run("edi-health")[0] == 2
    told = sorted({(tag, title.split(": ")[0]) for tag, title, _ in hook.received})
    assert told == [
        ("oncall", "[CRITICAL] edi-health/processing"),
        ("oncall", "[CRITICAL] edi-health/up"),
        ("ops", "[CRITICAL] edi-health"),
        ("ops", "[CRITICAL] edi-health/processing"),
        ("ops", "[CRITICAL] edi-health/up"),
    ]
    assert not any("log" in title for _, title, _ in hook.received)


def test_the_system_steps_measure_this_host_where_edi_home_is(edi: Edi) -> None:
    import psutil

    _, result = edi.run("edi-health")
    host = next(step for step in result["steps"] if step["id"] == "host")
    assert host["values"]["disk_path"] == str(edi.home.resolve())
    assert host["values"]["disk_total_bytes"] == shutil.disk_usage(edi.home).total
    assert host["values"]["memory_total_bytes"] == psutil.virtual_memory().total
    _, result = edi.run("edi-slow-processing")
    resources = next(step for step in result["steps"] if step["id"] == "resources")
    assert {"cpu_percent", "memory_percent", "load_per_cpu"} <= set(resources["values"])
    assert [e["name"] for e in resources["evaluations"]] == [
        "cpu_percent",
        "memory_percent",
        "load_per_cpu",
    ]


def test_the_process_check_finds_the_processor_by_its_command_line(edi: Edi) -> None:
    """`ps aux | grep`: a stand-in processor whose command line names it runs, then stops."""
    import uuid

    from services import start_service, stop_service

    marker = f"edi-monitor-{uuid.uuid4().hex[:8]}"
    args = ["--param", f"process={marker}"]
    processor = start_service(marker)
    try:
        _, result = edi.run("edi-files-not-processing", *args)
        process = next(step for step in result["steps"] if step["id"] == "process")
        assert process["status"] == "OK" and process["values"]["process_count"] == 1
        assert process["values"]["process_pids"] == [processor.pid]
    finally:
        stop_service(processor)
    code, result = edi.run("edi-files-not-processing", *args)
    assert code == 2 and fired(result) == {"process": C}
    process = next(step for step in result["steps"] if step["id"] == "process")
    assert any(f"no process matches {marker}" in e["text"] for e in process["evaluations"])
    assert "Resolution: restart the service" in process["hint"]


def test_acumatica_and_sterling_are_tested_from_here_with_the_token_masked(
    edi: Edi, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With acumatica_url and sterling_host given, the runbook calls them itself: the
    bearer token comes from ACUMATICA_TOKEN and shows nowhere; a closed port is CRITICAL."""
    token = "acu-9f3b2c7d1e"
    monkeypatch.setenv("ACUMATICA_TOKEN", token)
    url = os.environ["EDI_URL"]
    port = url.rsplit(":", 1)[1]
    args = ["--param", f"acumatica_url={url}/health", "--param", "sterling_host=127.0.0.1"]
    edi.capsys.readouterr()
    code = main(["run", "edi-high-error-rate", *args, "--param", f"sterling_port={port}", "-v"])
    out, err = edi.capsys.readouterr()
    assert code == 0 and token not in out + err
    code, result = edi.run("edi-high-error-rate", *args, "--param", f"sterling_port={_free_port()}")
    assert (code, fired(result)) == (2, {"sterling_port": C})
    steps = {step["id"]: step for step in result["steps"]}
    assert steps["acumatica_api"]["status"] == "OK"
    assert token not in json.dumps(result)
    history = main(["history", "edi-high-error-rate", "--format", "json"])
    assert history == 0 and token not in edi.capsys.readouterr().out
    assert main(["run", "edi-high-error-rate", *args, "--dry-run"]) == 0
    shown = edi.capsys.readouterr().out
    assert "Authorization: ***" in shown and token not in shown  # sent, and masked


def test_the_days_of_logs_kept_and_the_age_of_a_stuck_file_are_inputs(edi: Edi) -> None:
    code, result = edi.run("edi-weekly-maintenance", "--param", "log_days=40")
    steps = {step["id"]: step for step in result["steps"]}
    assert steps["old_logs"]["values"]["count"] == 6  # 40 to 45 days old
    assert len(list((edi.home / "logs").glob("*.log"))) == 40
    edi.state.set_faults(["slow"])  # 36 files waiting, the oldest 25 minutes
    _, result = edi.run("edi-files-not-processing", "--param", "stuck_after=30m")
    assert "pickup" not in fired(result)
    _, result = edi.run("edi-files-not-processing", "--param", "stuck_after=5m")
    assert fired(result)["pickup"] == C


# -- the operations review of issue 15 (items 1, 2, 7, 8, 9, 15, 16, 19) -------------------


@pytest.mark.parametrize("edi", [["api-down"]], indirect=True)
def test_with_the_api_down_each_runbook_says_so_once_and_clearly(edi: Edi) -> None:
    """No step reads the JSON of a 503 (`undefined: no key 'monitor' here`) and no hint is
    printed as raw Jinja: the steps that read the API are skipped once it did not answer."""
    for runbook, failing in [
        ("edi-health", {"up": C}),
        ("edi-files-not-processing", {"queue": C, "monitor": C}),
        ("edi-high-error-rate", {"error_rate": C}),
        ("edi-slow-processing", {"timing": C}),
        ("edi-weekly-maintenance", {"disk": C}),
    ]:
        code, result = edi.run(runbook)
        assert (code, fired(result)) == (2, failing), runbook
        assert "undefined" not in json.dumps(result), runbook
        for step in result["steps"]:
            if step["id"] in failing:
                texts = [e["text"] for e in step["evaluations"] if e["status"] != "OK"]
                assert texts and all("503" in text for text in texts), (runbook, texts)
                assert "{{" not in step["hint"] and "{%" not in step["hint"], runbook
            else:
                assert step["status"] in ("OK", "SKIPPED") or step["id"] in MEASURED, runbook
        edi.capsys.readouterr()
        assert main(["run", runbook]) == 2
        out = edi.capsys.readouterr().out
        assert "answered 503" in out, runbook
        assert "no key" not in out and "{{" not in out and "{%" not in out, runbook


def _stepping_clock() -> Callable[[], float]:
    """Ten minutes and a second later at each reading: the demo rewrites its files (and
    its metrics database) at every request, as a processor writes its metrics."""
    readings = iter(range(10**6))
    start = time.time()
    return lambda: start + 601 * next(readings)


@pytest.mark.parametrize("edi", [{"faults": [], "clock": _stepping_clock()}], indirect=True)
def test_a_rehearsal_does_not_hold_the_metrics_database_while_it_asks_the_processor(
    edi: Edi,
) -> None:
    """--rehearse keeps its rolled-back DELETE's write lock until the run ends: no step
    that makes the processor write its metrics may come after it (it would wait, then
    fail with 'database is locked')."""
    code, result = edi.run("edi-weekly-maintenance", "--rehearse", "--yes")
    assert (code, fired(result)) == (ORDER.index(expected_status(result, "OK")), {})
    steps = {step["id"]: step for step in result["steps"]}
    assert list(steps)[-1] == "metrics_cleanup" and steps["metrics_cleanup"]["status"] == "OK"
    assert steps["metrics_cleanup"]["values"]["rowcount"] > 0  # found, and rolled back
    assert steps["sample"]["status"] == "SKIPPED"  # a rehearsal runs no command


@pytest.mark.parametrize("edi", [["quiet-night"]], indirect=True)
def test_a_quiet_hour_then_one_new_file_pages_nobody(edi: Edi, hook: _Hook) -> None:
    code, result = edi.run("edi-health")
    assert (result["status"], fired(result)) == (expected_status(result, "OK"), {})
    processing = next(step for step in result["steps"] if step["id"] == "processing")
    assert processing["values"]["json"]["processing"]["processed_last_hour"] == 0
    assert processing["values"]["json"]["queue"]["depth"] == 1
    assert not [told for told in hook.received if told[0] == "oncall"]
    edi.state.set_faults(["files-stuck"])  # the same quiet hour, files waiting for hours
    _, result = edi.run("edi-health")
    assert fired(result)["processing"] == C


def test_an_incident_without_notifications_says_nobody_was_told(edi: Edi) -> None:
    code, result = edi.run("edi-incident", "--param", "severity=P3")
    stakeholders = next(step for step in result["steps"] if step["id"] == "stakeholders")
    assert (code, stakeholders["status"]) == (1, W)
    assert stakeholders["values"]["sent"] is False
    assert [e["text"] for e in stakeholders["evaluations"] if e["status"] == W] == [
        "not sent: notifications are not configured in runner.yaml"
    ]
    code, result = edi.run("edi-incident", "--rehearse", "--yes")
    stakeholders = next(step for step in result["steps"] if step["id"] == "stakeholders")
    assert stakeholders["status"] == "SKIPPED"  # a rehearsal sends nothing, and says so


@pytest.mark.parametrize("edi", [["files-stuck"]], indirect=True)
def test_an_incident_that_reached_the_stakeholders_is_ok(edi: Edi, hook: _Hook) -> None:
    _, result = edi.run("edi-incident", "--param", "severity=P3")
    assert "stakeholders" not in fired(result)


def test_weekly_maintenance_tests_with_the_seeds_sample_file(edi: Edi) -> None:
    """Seed 002: "Test with sample file: python main.py process
    tests/sample_data/sample_850.x12", in EDI_HOME, with the processor's Python."""
    code, result = edi.run("edi-weekly-maintenance")
    sample = next(step for step in result["steps"] if step["id"] == "sample")
    assert (sample["status"], sample["values"]["exit_code"]) == ("OK", 0)
    assert sample["values"]["stdout"].startswith("Processed sample_850.x12")
    edi.state.set_faults(["sterling-down"])
    code, result = edi.run("edi-weekly-maintenance")
    assert (code, fired(result)) == (2, {"connectivity": C, "sample": C})
    steps = {step["id"]: step for step in result["steps"]}
    assert "E004 Delivery error" in steps["sample"]["hint"]
    assert steps["metrics_cleanup"]["status"] == "OK"  # the checks report, the work is done
    code, result = edi.run("edi-weekly-maintenance", "--param", "sample_test=false")
    assert {step["id"]: step["status"] for step in result["steps"]}["sample"] == "SKIPPED"
    (edi.home / "tests" / "sample_data" / "sample_850.x12").write_text("not X12\n")
    edi.state.set_faults([])
    _, result = edi.run("edi-weekly-maintenance")
    assert fired(result) == {"sample": C}
    assert "E002 Parse error" in result["steps"][-2]["hint"]


def test_the_error_codes_have_the_same_thresholds_everywhere(edi: Edi) -> None:
    """edi-health and edi-high-error-rate judge E001-E005 by one set of figures."""
    from runner.language.config import load_config
    from runner.language.library import Library
    from runner.steps import STEP_TYPES

    library = Library(load_config(edi.root / "runner.yaml"), STEP_TYPES)

    def figures(runbook: str) -> dict[str, tuple[Any, Any]]:
        return {
            spec.name: (spec.warning, spec.critical)
            for step in library.runbook(runbook).steps
            for spec in step.thresholds
            if spec.name.startswith("E00")
        }

    health, troubleshooting = figures("edi-health"), figures("edi-high-error-rate")
    assert set(health) == set(troubleshooting) == {"E001", "E002", "E003", "E004", "E005"}
    assert health == troubleshooting


@pytest.mark.parametrize("edi", [["sterling-down"]], indirect=True)
def test_an_unreachable_system_has_no_latency_rather_than_0_ms(edi: Edi) -> None:
    _, result = edi.run("edi-slow-processing")
    network = next(step for step in result["steps"] if step["id"] == "network")
    names = [e["name"] for e in network["evaluations"]]
    assert "sterling_ms" not in names and "acumatica_ms" in names
    assert "None" not in network["hint"]
    assert "Sterling: unreachable, no answer" in network["hint"]


def test_monthly_maintenance_says_when_the_configuration_last_changed(edi: Edi) -> None:
    _, result = edi.run("edi-monthly-maintenance")
    review = next(step for step in result["steps"] if step["id"] == "config_review")
    assert review["status"] == "OK"
    assert "changed_days = 45 >= warning 31" in [e["text"] for e in review["evaluations"]]
    config = edi.home / "config" / "config.yaml"
    os.utime(config, (time.time() - 3 * 86400, time.time() - 3 * 86400))
    _, result = edi.run("edi-monthly-maintenance")
    assert fired(result) == {"config_review": W}
    review = next(step for step in result["steps"] if step["id"] == "config_review")
    assert "The configuration changed 3.0 days ago (config.yaml): review the change" in " ".join(
        review["hint"].split()
    )
