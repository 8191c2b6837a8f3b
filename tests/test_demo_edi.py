"""The edi demo (seed 002): its API's answers, its files under var/demo/edi, and what each
fault changes in both, on a fixed clock so that every number is known."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import tarfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import pytest

from runner.cli.main import main
from runner.demos import SYSTEMS, system
from runner.demos.base import DemoState
from runner.demos.server import Served, serving

NOW = 1_796_119_200.0  # 2026-12-01 10:00:00 UTC
DAY = 86400


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str, method: str = "GET", body: bytes | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=body, method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@contextmanager
def demo(
    root: Path, faults: list[str] = (), clock: Callable[[], float] = lambda: NOW
) -> Iterator[Any]:  # type: ignore[assignment]
    state = DemoState(root, faults=faults, clock=clock)
    served = Served(system("edi"), state, "127.0.0.1", _free_port())
    with serving([served]):
        served.get = lambda path: _get(served.url + path)  # type: ignore[attr-defined]
        yield served


def test_it_is_registered_on_the_seeds_port() -> None:
    assert list(SYSTEMS)[0] == "edi"
    edi = system("edi")
    assert (edi.NAME, edi.LISTEN) == ("edi", ("127.0.0.1", 5000))


def test_healthy_it_answers_the_seeds_endpoints(tmp_path: Path) -> None:
    with demo(tmp_path / "edi") as edi:
        code, health = edi.get("/health")
        assert code == 200 and health["status"] == "healthy"
        assert health["monitor"] == {
            "running": True,
            "last_poll": "2026-12-01T09:59:55+00:00",
            "seconds_since_poll": 5,
        }
        assert health["disk"]["percent"] == 42.0
        assert {name: dep["status"] for name, dep in health["dependencies"].items()} == {
            "sterling": "ok",
            "acumatica": "ok",
            "database": "ok",
        }
        code, status = edi.get("/api/v1/status")
    assert code == 200
    assert status["processing"] == {
        "files_per_hour": 120,
        "processed_last_hour": 120,
        "failed_last_hour": 1,
        "error_rate_percent": 0.8,
        "avg_processing_seconds": 1.4,
        "p95_processing_seconds": 3.2,
        "avg_file_kb": 18,
    }
    assert status["queue"] == {"depth": 3, "oldest_seconds": 40}
    assert status["errors_24h"] == {"E001": 0, "E002": 2, "E003": 3, "E004": 0, "E005": 0}
    assert status["error_codes"]["E004"] == {
        "description": "Delivery error",
        "resolution": "Check Sterling connectivity",
    }


def test_healthy_its_files_are_where_the_seed_looks(tmp_path: Path) -> None:
    root = tmp_path / "edi"
    with demo(root):
        pass
    pickup = sorted(root.glob("pickup/*.x12"))
    assert len(pickup) == 3 and all(NOW - p.stat().st_mtime <= 40 for p in pickup)
    assert len(list(root.glob("error/*.x12"))) == 2
    logs = sorted(root.glob("logs/edi_processor_*.log"))
    assert len(logs) == 46 and logs[-1].name == "edi_processor_20261201.log"
    assert NOW - logs[0].stat().st_mtime > 44 * DAY
    assert " - ERROR - " not in logs[-1].read_text()
    assert (root / "config" / "config.yaml").read_text().startswith("# EDI processor")
    with closing(sqlite3.connect(root / "metrics" / "edi_metrics.db")) as db:
        last_hour = db.execute(
            "SELECT COUNT(*), SUM(status = 'failed') FROM processing_metrics"
            " WHERE processed_at >= '2026-12-01 09:00:00'"
        ).fetchone()
        oldest = db.execute("SELECT MIN(processed_at) FROM processing_metrics").fetchone()[0]
    assert last_hour == (121, 1) and oldest.startswith("2026-08-28")
    backups = sorted(path.name for path in (root / "backups").iterdir())
    assert backups == [
        ".demo-made",
        "config_backup_20261201.tar.gz",
        "logs_backup_20261201.tar.gz",
        "metrics_20261201.db",
    ]
    with tarfile.open(root / "backups" / "config_backup_20261201.tar.gz") as tar:
        assert tar.getnames() == ["config/config.yaml"]
    with closing(sqlite3.connect(root / "backups" / "metrics_20261201.db")) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def _log(root: Path) -> str:
    return (root / "logs" / "edi_processor_20261201.log").read_text()


# fault -> (a check of /health, of /api/v1/status, of the files)
FAULT_CASES: dict[str, tuple[Callable[..., bool], Callable[..., bool], Callable[..., bool]]] = {
    "files-stuck": (
        lambda h: h["monitor"]["running"] is False and h["monitor"]["seconds_since_poll"] == 10800,
        lambda s: s["processing"]["processed_last_hour"] == 0 and s["queue"]["depth"] == 48,
        lambda root: (
            len(list(root.glob("pickup/*.x12"))) == 48
            and "CRITICAL - File monitor stopped" in _log(root)
            and NOW - (root / "logs" / "edi_processor_20261201.log").stat().st_mtime == 10800
        ),
    ),
    "permissions": (
        lambda h: h["directories"]["pickup"]["readable"] is False,
        lambda s: s["errors_24h"]["E001"] == 30 and s["processing"]["processed_last_hour"] == 0,
        lambda root: "E001 File read error: [Errno 13] Permission denied" in _log(root),
    ),
    "high-error-rate": (
        lambda h: h["status"] == "healthy",
        lambda s: s["processing"]["error_rate_percent"] == 17.9 and s["errors_24h"]["E003"] == 31,
        lambda root: (
            len(list(root.glob("error/*.x12"))) == 26
            and "ERROR - E003 Validation error" in _log(root)
        ),
    ),
    "sterling-down": (
        lambda h: h["dependencies"]["sterling"] == {"status": "unreachable", "latency_ms": None},
        lambda s: s["errors_24h"]["E004"] == 18,
        lambda root: "E004 Delivery error" in _log(root),
    ),
    "acumatica-auth": (
        lambda h: h["dependencies"]["acumatica"]["status"] == "unauthorized",
        lambda s: s["errors_24h"]["E005"] == 15,
        lambda root: "401 Unauthorized" in _log(root),
    ),
    "slow": (
        lambda h: h["dependencies"]["database"]["latency_ms"] == 850.0,
        lambda s: (
            (s["processing"]["avg_processing_seconds"], s["processing"]["p95_processing_seconds"])
            == (38.0, 96.0)
            and s["workers"] == {"busy": 4, "max": 4}
        ),
        lambda root: _slow_rows(root) == (41, 38000),
    ),
    "disk-full": (
        lambda h: h["disk"]["percent"] == 96.0 and h["status"] == "degraded",
        lambda s: s["errors_24h"]["E001"] == 12,
        lambda root: "No space left on device" in _log(root),
    ),
    "quiet-night": (
        lambda h: h["status"] == "healthy" and h["monitor"]["running"],
        lambda s: (
            s["processing"]["processed_last_hour"] == 0
            and s["queue"] == {"depth": 1, "oldest_seconds": 20}
        ),
        lambda root: [NOW - p.stat().st_mtime for p in root.glob("pickup/*.x12")] == [20],
    ),
    "backup-stale": (
        lambda h: h["status"] == "healthy",
        lambda s: s["status"] == "healthy",
        lambda root: (
            NOW - (root / "backups" / "metrics_20261122.db").stat().st_mtime == 9 * DAY
            and not (root / "backups" / "metrics_20261201.db").exists()
        ),
    ),
    "backup-corrupt": (
        lambda h: h["status"] == "healthy",
        lambda s: s["status"] == "healthy",
        lambda root: (root / "backups" / "metrics_20261201.db").read_bytes().startswith(b"partial"),
    ),
}


def _slow_rows(root: Path) -> tuple[int, int]:
    with closing(sqlite3.connect(root / "metrics" / "edi_metrics.db")) as db:
        row = db.execute(
            "SELECT COUNT(*), MIN(duration_ms) FROM processing_metrics"
            " WHERE processed_at >= '2026-12-01 09:00:00'"
        ).fetchone()
    return int(row[0]), int(row[1])


def test_every_fault_is_tested() -> None:
    assert set(FAULT_CASES) | {"api-down"} == set(system("edi").FAULTS)


@pytest.mark.parametrize("fault", list(FAULT_CASES))
def test_each_fault_shows_in_the_api_and_the_files(tmp_path: Path, fault: str) -> None:
    root = tmp_path / "edi"
    health_ok, status_ok, files_ok = FAULT_CASES[fault]
    with demo(root, [fault]) as edi:
        code, health = edi.get("/health")
        assert code == 200 and health_ok(health)
        code, status = edi.get("/api/v1/status")
        assert code == 200 and status_ok(status)
    assert files_ok(root)


def test_api_down_answers_503_on_both_endpoints(tmp_path: Path) -> None:
    with demo(tmp_path / "edi", ["api-down"]) as edi:
        assert edi.get("/health") == (
            503,
            {
                "status": "unhealthy",
                "error": "database connection pool exhausted (30 of 30 in use)",
                "version": "2.4.1",
            },
        )
        assert edi.get("/api/v1/status")[0] == 503


def test_faults_switched_while_serving_take_effect_at_the_next_request(tmp_path: Path) -> None:
    root = tmp_path / "edi"
    with demo(root) as edi:
        assert len(list(root.glob("pickup/*.x12"))) == 3
        code, _ = _get(edi.url + "/_demo/faults", "PUT", b'["files-stuck", "slow"]')
        assert code == 200
        code, status = edi.get("/api/v1/status")
        assert (
            status["queue"]["depth"] == 48 and status["processing"]["p95_processing_seconds"] == 96
        )
        assert len(list(root.glob("pickup/*.x12"))) == 48
        _get(edi.url + "/_demo/faults", "PUT", b"[]")
        assert edi.get("/api/v1/status")[1]["queue"]["depth"] == 3
        assert len(list(root.glob("pickup/*.x12"))) == 3
        assert "CRITICAL" not in _log(root)


def test_the_same_faults_and_clock_give_the_same_answers(tmp_path: Path) -> None:
    answers = []
    for name in ("one", "two"):
        with demo(tmp_path / name, ["slow", "sterling-down"]) as edi:
            answers.append([edi.get("/api/v1/status"), edi.get("/health")[1]["dependencies"]])
    assert answers[0] == answers[1]


def test_what_it_made_once_is_left_for_maintenance_to_clean(tmp_path: Path) -> None:
    """Old logs deleted by hand (or by edi-weekly-maintenance) stay deleted; a new clock
    bucket rewrites only what the faults own."""
    root = tmp_path / "edi"
    moments = iter([NOW, NOW, NOW + 700, NOW + 700, NOW + 700])
    with demo(root, clock=lambda: next(moments, NOW + 700)) as edi:
        for old in sorted(root.glob("logs/*.log"))[:15]:
            old.unlink()
        edi.get("/health")
    assert len(list(root.glob("logs/*.log"))) == 31


def test_demo_faults_lists_them(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "faults"]) == 0
    out = capsys.readouterr().out
    assert "edi: EDI file processor (seed 002) (listens on 127.0.0.1:5000)" in out
    assert "--fault files-stuck" in out and "--fault backup-corrupt" in out


def test_it_needs_no_real_time(tmp_path: Path) -> None:
    """The demo reads its clock, not the machine's: files are dated from it."""
    root = tmp_path / "edi"
    with demo(root, clock=lambda: NOW - 30 * DAY):
        pass
    assert (root / "logs" / "edi_processor_20261101.log").exists()
    assert (
        abs(os.stat(root / "backups" / "metrics_20261101.db").st_mtime - (NOW - 30 * DAY - DAY / 4))
        < 1
    )
    assert time.time() > NOW - 365 * DAY  # this machine's clock is left alone


def test_a_monitor_stopped_before_midnight_left_no_log_for_today(tmp_path: Path) -> None:
    """At 01:00, stopped 3 hours ago: the last log is yesterday's, ending in the crash, and
    the logs kept are the same at any time of day (each a minute older than its days)."""
    root = tmp_path / "edi"
    one_am = NOW - 9 * 3600
    with demo(root, ["files-stuck"], clock=lambda: one_am):
        pass
    assert not (root / "logs" / "edi_processor_20261201.log").exists()
    last = root / "logs" / "edi_processor_20261130.log"
    assert (
        last.read_text()
        .splitlines()[-1]
        .endswith("File monitor stopped: worker thread died (MemoryError)")
    )
    assert one_am - last.stat().st_mtime == 3 * 3600
    ages = sorted(one_am - path.stat().st_mtime for path in root.glob("logs/*.log"))
    assert sum(age > 30 * DAY for age in ages) == 16


def _sample(root: Path, *args: str) -> tuple[int, str]:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "main.py", *args], cwd=root, capture_output=True, text=True, check=False
    )
    return done.returncode, (done.stdout + done.stderr).strip()


@pytest.mark.parametrize(
    "faults, expected",
    [
        ([], (0, "Processed sample_850.x12: 850 purchase order, 1 transaction set, valid")),
        (["high-error-rate", "files-stuck"], (0, "Processed sample_850.x12")),
        (["sterling-down"], (1, "E004 Delivery error: connection to sterling:22 refused")),
        (["acumatica-auth"], (1, "E005 API error: Acumatica answered 401 Unauthorized")),
        (["disk-full", "sterling-down"], (1, "E001 File read error: [Errno 28] No space left")),
    ],
)
def test_main_py_processes_the_seeds_sample_file_as_the_faults_say(
    tmp_path: Path, faults: list[str], expected: tuple[int, str]
) -> None:
    """Seed 002's "Test with sample file": python main.py process
    tests/sample_data/sample_850.x12, in the processor's folder."""
    root = tmp_path / "edi"
    with demo(root, faults):
        pass
    code, out = _sample(root, "process", "tests/sample_data/sample_850.x12")
    assert (code, out[: len(expected[1])]) == expected
    assert _sample(root, "process", "pickup/nothing.x12")[0] == 1
    assert _sample(root, "validate")[0] == 1
