"""Every runbook of runbooks/returns/ through `runbook run ... --format json` against the
returns demo (seed 004) served on a free 127.0.0.1 port: healthy, and in each fault it is
meant to catch, with the run's status and the steps that fired checked."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import os
import shutil
import socket
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runner.cli.main import main
from runner.demos import returns, returns_story
from runner.demos.base import DemoState
from runner.demos.server import Served, serving

REPO = Path(__file__).resolve().parent.parent
SECRET = "shpss_runbook-test-secret-9f2c"
DAY = 86400


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The shipped configuration, runbooks and checks in a folder of their own, and the
    returns demo serving its var/demo/returns there; RETURNS_URL points at it."""
    root = tmp_path_factory.mktemp("returns")
    for name in ("runbooks", "checks", "sql"):
        shutil.copytree(REPO / name, root / name)
    shutil.copy(REPO / "runner.yaml", root / "runner.yaml")
    state = DemoState(root / "var" / "demo" / "returns")
    demo = Served(returns, state, "127.0.0.1", _free_port())
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SHOPIFY_API_SECRET", SECRET)  # the demo's and the runbooks' alike
        patch.setenv("RETURNS_URL", demo.url)
        patch.delenv("RUNBOOK_CONFIG", raising=False)
        patch.delenv("APP_URL", raising=False)
        with serving([demo]):
            yield demo


@pytest.fixture
def demo(served: Served, monkeypatch: pytest.MonkeyPatch) -> Served:
    """The served demo, healthy, its files as new, the runner's folder current."""
    monkeypatch.chdir(served.state.root.parents[2])
    served.state.set_faults([])
    root = served.state.root
    for folder in ("logs", "backup"):
        shutil.rmtree(root / folder, ignore_errors=True)
    returns_story.write_files(root, time.time())
    return served


def run(capsys: pytest.CaptureFixture[str], name: str, *args: str) -> tuple[int, dict[str, Any]]:
    code = main(["run", name, "--format", "json", *args])
    out = capsys.readouterr().out
    assert SECRET not in out
    return code, json.loads(out)


def statuses(result: dict[str, Any]) -> dict[str, str]:
    """Every step's status by id, nested ones too."""
    found: dict[str, str] = {}

    def walk(steps: list[dict[str, Any]]) -> None:
        for step in steps:
            found[step["id"]] = step["status"]
            walk(step.get("children") or [])

    walk(result["steps"])
    return found


def fired(result: dict[str, Any]) -> dict[str, str]:
    """The steps that found something: neither OK nor SKIPPED. The host's own disk and
    memory are read for real: a step about them counts only when it says something else
    than the host does now (over 90%: WARNING, the runbooks' threshold)."""
    found = {k: v for k, v in statuses(result).items() if v not in ("OK", "SKIPPED")}
    import psutil

    disk = psutil.disk_usage(".").percent > 90
    memory = psutil.virtual_memory().percent > 90
    for name, full in (("disk", disk), ("resources", disk or memory)):
        if full and found.get(name) == "WARNING":
            del found[name]
    return found


def step(result: dict[str, Any], wanted: str) -> dict[str, Any]:
    todo = list(result["steps"])
    while todo:
        current = todo.pop(0)
        if current["id"] == wanted:
            return current
        todo.extend(current.get("children") or [])
    raise KeyError(wanted)


def check(
    capsys: pytest.CaptureFixture[str],
    demo: Served,
    name: str,
    faults: list[str],
    status: str,
    expected: dict[str, str],
    *args: str,
) -> dict[str, Any]:
    demo.state.set_faults(faults)  # its files follow at once (DemoState.on_faults)
    code, result = run(capsys, name, *args)
    assert (result["status"], fired(result)) == (status, expected), result["steps"]
    assert code == {"OK": 0, "WARNING": 1, "CRITICAL": 2, "UNKNOWN": 3}[status]
    return result


def test_every_runbook_is_valid(demo: Served, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "runbooks/returns"]) == 0, capsys.readouterr().out
    names = sorted(path.stem for path in (REPO / "runbooks" / "returns").glob("*.yaml"))
    assert names == [
        "backup",
        "backup-check",
        "health",
        "monthly-maintenance",
        "oauth",
        "performance",
        "portal",
        "sync",
        "webhooks",
        "weekly-maintenance",
    ]


# --- returns-health ------------------------------------------------------------------

HEALTH = [
    ("healthy", [], "OK", {}),
    ("oauth-down", ["oauth-down"], "CRITICAL", {"shopify": "CRITICAL", "sync": "WARNING"}),
    ("webhooks-failing", ["webhooks-failing"], "CRITICAL", {"webhooks": "CRITICAL"}),
    ("sync-stalled", ["sync-stalled"], "WARNING", {"sync": "WARNING"}),
    (  # a High issue of the seed: an email, not a page
        "portal-errors",
        ["portal-errors"],
        "WARNING",
        {"load": "WARNING", "metrics": "WARNING", "portal": "WARNING"},
    ),
    ("slow", ["slow"], "WARNING", {"load": "WARNING", "metrics": "WARNING"}),
    (
        "db-down",
        ["db-down"],
        "CRITICAL",
        {"api": "CRITICAL", "shopify": "CRITICAL", "sync": "CRITICAL", "portal": "WARNING"},
    ),
]


@pytest.mark.parametrize(
    "faults, status, expected", [h[1:] for h in HEALTH], ids=[h[0] for h in HEALTH]
)
def test_health(demo, capsys, faults, status, expected) -> None:
    result = check(capsys, demo, "returns-health", faults, status, expected)
    if faults == ["webhooks-failing"]:
        webhooks = step(result, "webhooks")
        assert "41 of 41 failed in 15 minutes, 126 wait unprocessed" in webhooks["hint"]
        texts = [e["text"] for e in webhooks["evaluations"]]
        assert "failure_rate_percent = 100 > critical 10" in texts
        assert "missing_subscriptions = 2 > warning 0" in texts
        assert any(t.startswith("minutes_since_processed = 19") for t in texts)
    if not faults:  # the disk the service writes to, read for real
        import psutil

        real = psutil.disk_usage(str(demo.state.root)).percent
        assert abs(step(result, "disk")["values"]["disk_percent"] - real) < 1
    if faults == ["oauth-down"]:
        assert "runbook run returns-oauth" in step(result, "shopify")["hint"]
    if faults == ["slow"]:
        metrics = step(result, "metrics")
        texts = [e["text"] for e in metrics["evaluations"]]
        assert "avg_response_ms = 4200 > warning 3000" in texts
        assert "db_connections_percent = 88 > warning 80" in texts
        assert "runbook run returns-performance" in metrics["hint"]
    if faults == ["portal-errors"]:
        assert "124 of 1240 requests failed" in step(result, "metrics")["hint"]
    if faults == ["db-down"]:
        assert statuses(result)["load"] == statuses(result)["webhooks"] == "SKIPPED"
        for name in ("shopify", "sync", "portal"):  # the cause is MongoDB, not OAuth
            hint = step(result, name)["hint"]
            assert "the API or its MongoDB is down (the api step)" in hint, name
            assert "OAuth integration down" not in hint and "returns-oauth" not in hint


def test_health_names_an_unknown_tenant(demo, capsys) -> None:
    result = check(
        capsys,
        demo,
        "returns-health",
        [],
        "CRITICAL",
        {"shopify": "CRITICAL", "sync": "CRITICAL", "portal": "WARNING"},
        "--param",
        "tenant=tenant-nope",
    )
    texts = [e["text"] for e in step(result, "shopify")["evaluations"]]
    assert "the Shopify status answers 404: Tenant not found: tenant-nope" in texts


# --- the troubleshooting runbooks ------------------------------------------------------


def test_oauth(demo, capsys) -> None:
    check(capsys, demo, "returns-oauth", [], "OK", {})
    result = check(capsys, demo, "returns-oauth", ["oauth-down"], "CRITICAL", {"token": "CRITICAL"})
    token = step(result, "token")
    assert "Invalid API key or access token" in " ".join(e["text"] for e in token["evaluations"])
    assert "Allowed redirection URLs" in token["hint"]
    assert "db.oauth_states.deleteMany({})" in token["hint"]


def test_oauth_finds_a_trailing_slash_in_app_url(demo, capsys, monkeypatch) -> None:
    monkeypatch.setenv("APP_URL", demo.url + "/")
    result = check(capsys, demo, "returns-oauth", [], "CRITICAL", {"app_url": "CRITICAL"})
    assert "ends with a slash" in step(result, "app_url")["evaluations"][0]["text"]


def _signature(body: str) -> str:
    digest = hmac.new(SECRET.encode(), body.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def test_webhooks_signed_accepted_bad_refused_and_the_secret_masked(demo, capsys) -> None:
    opt_in = ("--param", "send_test_webhook=true")
    result = check(
        capsys, demo, "returns-webhooks", [], "OK", {}, *opt_in, "--param", "resync=true", "--yes"
    )
    assert (step(result, "signed")["values"]["status"], step(result, "resync")["status"]) == (
        200,
        "OK",
    )
    assert step(result, "bad_signature")["values"]["status"] == 401
    # --dry-run shows the request: the signature is masked with the key.
    code = main(["run", "returns-webhooks", "--dry-run", "--format", "json", *opt_in])
    out = capsys.readouterr().out
    assert code == 0 and SECRET not in out and _signature('{"test": true}') not in out
    signed = step(json.loads(out), "signed")
    assert signed["rendered"]["headers"]["X-Shopify-Hmac-Sha256"] == "***"


def test_webhooks_sends_no_signed_webhook_unless_asked_and_confirmed(demo, capsys) -> None:
    """A signed orders/create is processed as a real event by the service: never by
    default, asked first, and never signed with anything but the real secret."""
    result = check(capsys, demo, "returns-webhooks", [], "OK", {})
    assert (statuses(result)["secret"], statuses(result)["signed"]) == ("SKIPPED", "SKIPPED")
    assert step(result, "bad_signature")["values"]["status"] == 401  # refused: harmless
    code, result = run(capsys, "returns-webhooks", "--param", "send_test_webhook=true")
    assert code == 3 and "step signed must be confirmed" in result["error"]


def test_webhooks_without_the_secret_is_unknown_and_sends_nothing(
    demo, capsys, monkeypatch
) -> None:
    monkeypatch.delenv("SHOPIFY_API_SECRET")
    result = check(
        capsys,
        demo,
        "returns-webhooks",
        [],
        "UNKNOWN",
        {"secret": "UNKNOWN"},
        "--param",
        "send_test_webhook=true",
        "--yes",
    )
    assert statuses(result)["signed"] == "SKIPPED"
    assert "SHOPIFY_API_SECRET is not set here" in step(result, "secret")["evaluations"][0]["text"]


def test_webhooks_failing(demo, capsys) -> None:
    result = check(
        capsys,
        demo,
        "returns-webhooks",
        ["webhooks-failing"],
        "CRITICAL",
        {"registration": "CRITICAL", "signed": "CRITICAL"},
        "--param",
        "send_test_webhook=true",
        "--yes",
    )
    signed = step(result, "signed")
    assert signed["evaluations"][0]["text"] == (
        "a correctly signed test webhook gets 401: HMAC verification failed"
    )
    assert "compare SHOPIFY_API_SECRET in /app/backend/.env" in signed["hint"]
    assert "hmac_failures = 41 > warning 0" in [
        e["text"] for e in step(result, "registration")["evaluations"]
    ]
    assert "--param resync=true" in step(result, "registration")["hint"]
    check(
        capsys,
        demo,
        "returns-webhooks",
        ["oauth-down"],
        "CRITICAL",
        {"resync": "CRITICAL"},
        "--param",
        "resync=true",
        "--yes",
    )


def test_sync(demo, capsys) -> None:
    check(capsys, demo, "returns-sync", [], "OK", {}, "--param", "resync=true", "--yes")
    # The fix asks first: without a terminal nor --yes, nothing starts (UNKNOWN).
    code, result = run(capsys, "returns-sync", "--param", "resync=true")
    assert code == 3 and "step resync must be confirmed" in result["error"]
    result = check(capsys, demo, "returns-sync", ["sync-stalled"], "WARNING", {"jobs": "WARNING"})
    texts = [e["text"] for e in step(result, "jobs")["evaluations"]]
    assert "running_minutes = 95 > warning 60" in texts
    assert "db.sync_jobs.updateMany" in step(result, "jobs")["hint"]
    check(
        capsys,
        demo,
        "returns-sync",
        ["oauth-down"],
        "WARNING",
        {"latest_job": "WARNING", "token": "WARNING"},
    )


def test_portal(demo, capsys) -> None:
    check(
        capsys, demo, "returns-portal", [], "OK", {}, "--param", "create_test_return=true", "--yes"
    )
    result = check(
        capsys,
        demo,
        "returns-portal",
        ["portal-errors"],
        "CRITICAL",
        {"lookup": "CRITICAL", "create": "CRITICAL"},
        "--param",
        "create_test_return=true",
        "--yes",
    )
    assert "return_requests" in step(result, "lookup")["hint"]
    # An order placed since the stalled sync: "Order not found", and the hint says sync.
    result = check(
        capsys,
        demo,
        "returns-portal",
        ["sync-stalled"],
        "WARNING",
        {"lookup": "WARNING"},
        "--param",
        "order_number=1005",
        "--param",
        "customer_email=kim@example.com",
    )
    assert "runbook run returns-sync" in step(result, "lookup")["hint"]


LOAD = {"load": "WARNING", "metrics": "WARNING"}  # the check returns-load and its step


def test_performance(demo, capsys) -> None:
    check(capsys, demo, "returns-performance", [], "OK", {})
    check(capsys, demo, "returns-performance", ["portal-errors"], "WARNING", LOAD)
    # One real slow request: the seed's threshold is the time a request takes.
    result = check(
        capsys,
        demo,
        "returns-performance",
        ["slow"],
        "WARNING",
        {"returns_api": "WARNING", **LOAD},
    )
    assert step(result, "returns_api")["values"]["elapsed_ms"] >= returns.SLOW_SECONDS * 1000


# --- backups and maintenance ----------------------------------------------------------


def _backups(demo: Served) -> Path:
    return demo.state.root / "backup"


def test_backup_check(demo, capsys) -> None:
    check(capsys, demo, "returns-backup-check", [], "OK", {})
    newest = sorted(_backups(demo).glob("2*.tar.gz"))[-1]
    newest.write_bytes(newest.read_bytes()[:100])  # cut short: gzip's end is missing
    result = check(capsys, demo, "returns-backup-check", [], "CRITICAL", {"archive": "CRITICAL"})
    assert newest.name in step(result, "archive")["evaluations"][0]["text"]


def test_backup_check_restores_the_newest_into_a_scratch_folder(demo, capsys) -> None:
    """tar -tzf is not a restore: a backup whose collection dumped empty lists fine but
    gives back no data; the restore step unpacks it and finds that out."""
    newest = sorted(_backups(demo).glob("2*.tar.gz"))[-1]
    folder = newest.name.removesuffix(".tar.gz")
    with tarfile.open(newest, "w:gz") as tar:
        for name in ("orders", "returns", "tenants", "sync_jobs", "webhook_events"):
            data = b"" if name == "orders" else b"\x05\x00\x00\x00\x00"
            info = tarfile.TarInfo(f"{folder}/returns_management/{name}.bson")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    os.utime(newest, (time.time() - 3600,) * 2)
    result = check(capsys, demo, "returns-backup-check", [], "CRITICAL", {"restore": "CRITICAL"})
    assert statuses(result)["archive"] == "OK"  # tar -tzf alone saw nothing wrong
    texts = [e["text"] for e in step(result, "restore")["evaluations"]]
    assert f"{newest.name} restores without orders (missing or empty)" in texts
    assert not (_backups(demo) / ".restore-check").exists()  # the scratch folder is gone


def test_backup_takes_the_seeds_backups_and_checks_them(demo, capsys) -> None:
    tool = ("--param", "mongodump=var/demo/returns/bin/mongodump")
    before = {p.name for p in _backups(demo).iterdir()}
    result = check(capsys, demo, "returns-backup", [], "OK", {}, *tool)
    made = {p.name for p in _backups(demo).iterdir()} - before
    dump = next(name for name in made if name.startswith("2"))
    assert statuses(result)["restore"] == "OK"  # the new backup restores
    with tarfile.open(_backups(demo) / dump) as tar:
        names = tar.getnames()
    stamp = dump.removesuffix(".tar.gz")
    assert f"{stamp}/returns_management/orders.bson" in names
    assert not (_backups(demo) / stamp).exists()  # the dump folder is removed, as the seed does
    newest_config = sorted(_backups(demo).glob("config_*.tar.gz"))[-1]
    with tarfile.open(newest_config) as tar:
        assert "var/demo/returns/app/backend/.env" in tar.getnames()
    assert newest_config.stat().st_mtime > time.time() - 600  # written now
    # mongodump fails: nothing is archived, and the hint says what to look at
    before = sorted(p.name for p in _backups(demo).iterdir())
    result = check(
        capsys,
        demo,
        "returns-backup",
        [],
        "CRITICAL",
        {"dump": "CRITICAL"},
        "--param",
        "mongodump=false",
    )
    assert step(result, "archive")["outcome"] == "not_run"
    assert "runbook run returns-backup" in step(result, "dump")["hint"]
    assert sorted(p.name for p in _backups(demo).iterdir()) == before


def test_backup_check_fires_when_the_nightly_backup_failed(demo, capsys) -> None:
    stale = {"database_backup": "CRITICAL", "config_backup": "CRITICAL", "archive": "CRITICAL"}
    result = check(capsys, demo, "returns-backup-check", ["backup-failed"], "CRITICAL", stale)
    texts = [e["text"] for e in step(result, "database_backup")["evaluations"]]
    assert any(t.startswith("newest_minutes = ") and "> critical 3000" in t for t in texts)
    assert "mongodump --db returns_management" in step(result, "database_backup")["hint"]
    # and the weekly maintenance stops before it deletes anything
    before = sorted(p.name for p in _backups(demo).iterdir())
    check(
        capsys,
        demo,
        "returns-weekly-maintenance",
        ["backup-failed"],
        "CRITICAL",
        {"backups": "CRITICAL", **stale},
    )
    assert sorted(p.name for p in _backups(demo).iterdir()) == before


def test_backup_check_finds_missing_stale_and_old_backups(demo, capsys, tmp_path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    missing = {"database_backup": "CRITICAL", "config_backup": "CRITICAL"}
    result = check(
        capsys, demo, "returns-backup-check", [], "CRITICAL", missing, "--param", f"folder={empty}"
    )
    assert statuses(result)["archive"] == "SKIPPED"
    for path in _backups(demo).iterdir():  # nothing new for three days
        moment = path.stat().st_mtime - 3 * DAY
        os.utime(path, (moment, moment))
    check(capsys, demo, "returns-backup-check", [], "CRITICAL", missing)
    for path in sorted(_backups(demo).iterdir())[:2]:  # the weekly clean-up did not run
        os.utime(path, (time.time() - 20 * DAY,) * 2)
    result = check(
        capsys, demo, "returns-backup-check", [], "CRITICAL", {**missing, "retention": "WARNING"}
    )
    assert "runbook run returns-weekly-maintenance" in step(result, "retention")["hint"]


def test_weekly_maintenance(demo, capsys) -> None:
    logs = demo.state.root / "logs"
    before = sorted(p.name for p in _backups(demo).iterdir())
    result = check(capsys, demo, "returns-weekly-maintenance", [], "OK", {}, "--rehearse", "--yes")
    deleted = [step(result, f"delete_{kind}_backups")["values"]["count"] for kind in KINDS]
    assert deleted == [3, 3]
    assert sorted(p.name for p in _backups(demo).iterdir()) == before  # rehearsed: kept
    result = check(capsys, demo, "returns-weekly-maintenance", [], "OK", {})
    assert list(statuses(result))[:2] == ["backups", "database_backup"]  # verified first
    for prefix in ("2", "config_"):  # the newest 7 of each kind are left
        left = sorted(p.name for p in _backups(demo).glob(f"{prefix}*.tar.gz"))
        assert left == [n for n in before if n.startswith(prefix)][-7:]
    assert sorted(p.name for p in logs.glob("*.log.*")) == ["backend.err.log.3"]
    assert sorted(p.name for p in (logs / "archive").iterdir()) == [
        "backend.err.log.10",
        "backend.err.log.20",
    ]
    assert step(result, "old_logs")["values"]["files"] == [
        "backend.err.log.35",
        "backend.err.log.50",
    ]
    assert statuses(result)["archive"] == "OK"  # the backup check ran inside


KINDS = ("database", "config")


def test_weekly_maintenance_verifies_before_it_deletes(demo, capsys) -> None:
    """The nightly backup stopped a week ago: the check stops the maintenance before
    anything is deleted, and the last backups are never the ones that go."""
    for path in _backups(demo).iterdir():
        moment = path.stat().st_mtime - 8 * DAY
        os.utime(path, (moment, moment))
    before = sorted(p.name for p in _backups(demo).iterdir())
    result = check(
        capsys,
        demo,
        "returns-weekly-maintenance",
        [],
        "CRITICAL",
        {
            "backups": "CRITICAL",
            "database_backup": "CRITICAL",
            "config_backup": "CRITICAL",
            "retention": "WARNING",
        },
    )
    assert step(result, "delete_database_backups")["outcome"] == "not_run"
    assert step(result, "backups")["hint"].startswith("Nothing was deleted")
    assert sorted(p.name for p in _backups(demo).iterdir()) == before


def test_weekly_maintenance_cleans_up_after_a_warning_of_the_check(demo, capsys) -> None:
    """Backups left over 15 days (the clean-up did not run) are a WARNING of the check,
    not a reason to keep them: the clean-up it asks for goes on."""
    for path in sorted(_backups(demo).glob("2*.tar.gz"))[:2]:
        os.utime(path, (time.time() - 20 * DAY,) * 2)
    result = check(
        capsys,
        demo,
        "returns-weekly-maintenance",
        [],
        "WARNING",
        {"backups": "WARNING", "retention": "WARNING"},
    )
    assert step(result, "delete_database_backups")["values"]["count"] == 3
    assert "keeps the newest 7 backups" in step(result, "backups")["hint"]


def test_weekly_maintenance_keeps_the_newest_backups(demo, capsys) -> None:
    """Fewer than `keep` backups newer than 7 days: the newest `keep` of each kind stay
    whatever their age, the older ones go, and the step says how many it kept and why."""
    before = sorted(p.name for p in _backups(demo).iterdir())
    result = check(
        capsys,
        demo,
        "returns-weekly-maintenance",
        [],
        "WARNING",
        {"delete_database_backups": "WARNING", "delete_config_backups": "WARNING"},
        "--param",
        "keep=8",
    )
    for prefix in ("2", "config_"):  # the newest 8 of each kind are left, one of them old
        left = sorted(p.name for p in _backups(demo).glob(f"{prefix}*.tar.gz"))
        assert left == [n for n in before if n.startswith(prefix)][-8:]
    deleted = step(result, "delete_database_backups")
    assert (deleted["values"]["count"], deleted["values"]["kept"]) == (2, 1)
    assert "kept = 1 > warning 0" in [e["text"] for e in deleted["evaluations"]]
    assert deleted["hint"].startswith(
        "1 of the newest 8 database backups are older than 7 days and were kept"
    )


def test_monthly_maintenance(demo, capsys) -> None:
    result = check(capsys, demo, "returns-monthly-maintenance", [], "OK", {})
    assert step(result, "db_size")["evaluations"][0]["value"] == 530.2
    # The growth month by month, as the README and the hint say to read it.
    value = ["--value", "db_size.storage_size_mb"]
    assert main(["history", "returns-monthly-maintenance", *value, "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["values"] == {"db_size.storage_size_mb": 530.2}
    check(
        capsys,
        demo,
        "returns-monthly-maintenance",
        [],
        "WARNING",
        {"db_size": "WARNING"},
        "--param",
        "storage_limit_mb=600",
    )
    # db-down stops the maintenance at the size (a maintenance runbook stops on CRITICAL).
    result = check(
        capsys,
        demo,
        "returns-monthly-maintenance",
        ["db-down"],
        "CRITICAL",
        {"db_size": "CRITICAL"},
    )
    assert step(result, "after")["outcome"] == "not_run"


# --- a service that is down or unreachable: CRITICAL, said plainly ------------------------

RUNBOOKS = [
    "returns-health",
    "returns-oauth",
    "returns-webhooks",
    "returns-sync",
    "returns-portal",
    "returns-performance",
    "returns-backup-check",
    "returns-weekly-maintenance",
    "returns-monthly-maintenance",
]


def _unattended(demo: Served, name: str, environ: dict[str, str]) -> Any:
    """A run through the run service, as `runbook run` makes it, that never sleeps
    between retries (an unreachable address is retried)."""
    from runner.language.config import load_config
    from runner.service.runs import RunRequest, RunService

    config = load_config(demo.state.root.parents[2] / "runner.yaml")
    service = RunService(
        config,
        sleep=lambda seconds: None,
        log=lambda message: None,
        interactive=False,
        environ={**os.environ, **environ},
    )
    return service.run(RunRequest(name, {}, mode="rehearse" if "weekly" in name else "run"))


def _said_plainly(run: Any) -> list[str]:
    """What is wrong with how the run reports: an UNKNOWN step, a hint left unrendered."""
    found = []
    todo = list(run.steps)
    while todo:
        current = todo.pop(0)
        todo.extend(current.children)
        if str(current.status) == "UNKNOWN":
            found.append(f"{current.id} UNKNOWN: {current.error} {current.evaluations}")
        bad = str(current.status) in ("WARNING", "CRITICAL")
        if bad and current.hint and ("{{" in current.hint or "{%" in current.hint):
            found.append(f"{current.id}: hint not rendered: {current.hint[:80]}")
    return found


@pytest.mark.parametrize("name", RUNBOOKS)
def test_down_or_unreachable_is_critical_and_said_plainly(demo, name) -> None:
    demo.state.set_faults(["db-down"])
    down = _unattended(demo, name, {})
    assert _said_plainly(down) == []
    closed = f"http://127.0.0.1:{_free_port()}"
    unreachable = _unattended(demo, name, {"RETURNS_URL": closed})
    assert _said_plainly(unreachable) == []
    if name in ("returns-backup-check", "returns-weekly-maintenance"):  # files only
        assert str(down.status) == str(unreachable.status) == "OK"
    else:
        assert str(down.status) == str(unreachable.status) == "CRITICAL"
        todo, requests = list(unreachable.steps), []
        while todo:
            current = todo.pop(0)
            todo.extend(current.children)
            requests += (
                [current] if current.action == "http" and current.outcome != "skipped" else []
            )
        assert requests and all("connection refused" in (r.error or "") for r in requests)
