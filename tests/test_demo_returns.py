"""The returns demo (seed 004) over real HTTP: its endpoints, the tenant header, Shopify's
webhook signature, the files it keeps, and what each fault changes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import tarfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runner.demos import SYSTEMS, returns, system
from runner.demos.base import DemoState
from runner.demos.server import Served, serving

NOW = 1_780_000_000.0  # 2026-05-28T20:26:40Z
TENANT = {"X-Tenant-Id": "tenant-rms34"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    monkeypatch.delenv("SHOPIFY_API_SECRET", raising=False)
    monkeypatch.delenv("APP_URL", raising=False)
    served = Served(
        returns, DemoState(tmp_path / "returns", clock=lambda: NOW), "127.0.0.1", _free_port()
    )
    with serving([served]):
        yield served


def call(
    served: Served,
    path: str,
    method: str = "GET",
    body: Any = None,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
) -> tuple[int, Any]:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(
        served.url + path, data=data, method=method, headers=headers or {}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def faults(served: Served, *names: str) -> None:
    served.state.set_faults(names)


def sign(body: bytes, key: str = "demo-shopify-api-secret") -> str:
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


def test_registered_with_the_seeds_port_and_faults() -> None:
    assert SYSTEMS["returns"] == "runner.demos.returns"
    assert system("returns") is returns
    assert returns.LISTEN == ("127.0.0.1", 3000)
    assert set(returns.FAULTS) == {
        "oauth-down",
        "webhooks-failing",
        "sync-stalled",
        "portal-errors",
        "slow",
        "db-down",
        "backup-failed",
    }


def test_healthy(demo: Served) -> None:
    status, health = call(demo, "/api/health")
    assert status == 200 and (health["status"], health["database"]) == ("healthy", "connected")
    assert health["timestamp"] == "2026-05-28T20:26:40Z"
    assert health["metrics"]["error_rate_percent"] == 0.5
    assert health["metrics"]["avg_response_ms"] == 180
    assert health["database_connections"]["percent"] == 18.0
    assert health["database_stats"]["storage_size_mb"] == 530.2
    status, shopify = call(demo, "/api/integrations/shopify/status", headers=TENANT)
    assert status == 200 and shopify["connected"] and shopify["token"]["valid"]
    assert shopify["redirect_uri"] == demo.url + "/api/auth/shopify/callback"
    hooks = shopify["webhooks"]
    assert [hook["topic"] for hook in hooks["registered"]] == hooks["expected"]
    assert (hooks["failure_rate_percent"], hooks["unprocessed"]) == (2.7, 0)
    assert hooks["last_processed_at"] == "2026-05-28T20:22:40Z"  # 4 minutes ago
    status, jobs = call(demo, "/api/integrations/shopify/jobs", headers=TENANT)
    assert status == 200 and jobs["jobs"][0]["status"] == "completed"
    assert jobs["jobs"][0]["started_at"] == "2026-05-28T20:19:40Z"  # 7 minutes ago
    assert shopify["last_sync_at"] == jobs["last_success_at"] == jobs["jobs"][0]["finished_at"]
    status, listed = call(demo, "/api/returns/", headers=TENANT)
    assert status == 200 and listed["total"] == 3


def test_the_tenant_header_is_required_and_must_name_a_tenant(demo: Served) -> None:
    for path in ("/api/integrations/shopify/status", "/api/integrations/shopify/jobs"):
        assert call(demo, path) == (400, {"detail": "X-Tenant-Id header is required"})
        other = {"X-Tenant-Id": "tenant-nope"}
        assert call(demo, path, headers=other) == (404, {"detail": "Tenant not found: tenant-nope"})


def test_webhooks_verify_shopifys_signature_of_the_raw_body(
    demo: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = b'{"test": true}'
    path = "/api/webhooks/orders/create"
    signed = {"X-Shopify-Hmac-Sha256": sign(body), "Content-Type": "application/json"}
    assert call(demo, path, "POST", raw=body, headers=signed) == (
        200,
        {"received": True, "topic": "orders/create"},
    )
    refused = (401, {"detail": "HMAC verification failed"})
    assert call(demo, path, "POST", raw=body, headers={"X-Shopify-Hmac-Sha256": "test"}) == refused
    assert call(demo, path, "POST", raw=body) == refused  # no signature at all
    assert call(demo, path, "POST", raw=body + b" ", headers=signed) == refused  # body changed
    assert call(demo, "/api/webhooks/orders/nope", "POST", raw=body, headers=signed)[0] == 404
    # The app's secret comes from SHOPIFY_API_SECRET when it is set.
    monkeypatch.setenv("SHOPIFY_API_SECRET", "shpss_rotated")
    assert call(demo, path, "POST", raw=body, headers=signed) == refused
    rotated = {"X-Shopify-Hmac-Sha256": sign(body, "shpss_rotated")}
    assert call(demo, path, "POST", raw=body, headers=rotated)[0] == 200


def test_portal_lookup_finds_the_seeds_order(demo: Served) -> None:
    asked = {"order_number": "1001", "customer_email": "test@example.com"}
    path = "/api/elite/portal/returns/lookup-order"
    status, found = call(demo, path, "POST", asked, TENANT)
    assert status == 200 and found["order"]["id"] == "5813364687033"
    wrong = {"order_number": "1001", "customer_email": "other@example.com"}
    assert call(demo, path, "POST", wrong, TENANT) == (404, {"detail": "Order not found"})
    assert call(demo, path, "POST", {}, TENANT)[0] == 422
    created = {"order_id": "5813364687033", "items": [{"line_item_id": "123", "quantity": 1}]}
    status, made = call(demo, "/api/elite/portal/returns/create", "POST", created, TENANT)
    assert status == 201 and made["status"] == "requested"


def test_oauth_install_redirects_to_shopify_with_the_callback(demo: Served) -> None:
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    with pytest.raises(urllib.error.HTTPError) as answer:
        opener.open(demo.url + "/api/auth/shopify/install?shop=test-store.myshopify.com")
    assert answer.value.code == 302
    location = answer.value.headers["location"]
    assert location.startswith("https://test-store.myshopify.com/admin/oauth/authorize?")
    callback = urllib.parse.quote(demo.url + "/api/auth/shopify/callback", safe="")
    assert f"redirect_uri={callback}" in location
    assert call(demo, "/api/auth/shopify/callback")[0] == 400  # there, wanting its parameters


def test_oauth_down(demo: Served) -> None:
    faults(demo, "oauth-down")
    shopify = call(demo, "/api/integrations/shopify/status", headers=TENANT)[1]
    assert (shopify["connected"], shopify["status"], shopify["token"]["valid"]) == (
        False,
        "token_invalid",
        False,
    )
    assert "401 Unauthorized" in shopify["token"]["error"]
    jobs = call(demo, "/api/integrations/shopify/jobs", headers=TENANT)[1]["jobs"]
    assert [job["status"] for job in jobs[:3]] == ["failed", "failed", "completed"]
    assert call(demo, "/api/integrations/shopify/resync", "POST", {}, TENANT)[0] == 401
    faults(demo)
    assert (
        call(demo, "/api/integrations/shopify/resync", "POST", {"type": "full"}, TENANT)[0] == 202
    )


def test_webhooks_failing(demo: Served) -> None:
    faults(demo, "webhooks-failing")
    hooks = call(demo, "/api/integrations/shopify/status", headers=TENANT)[1]["webhooks"]
    assert [hook["topic"] for hook in hooks["registered"]] == ["app/uninstalled"]
    assert (hooks["failure_rate_percent"], hooks["unprocessed"]) == (100.0, 126)
    assert hooks["last_processed_at"] == "2026-05-28T17:16:40Z"  # 190 minutes ago
    assert (hooks["hmac_failures_15m"], hooks["failed_15m"]) == (41, 41)
    body = b'{"test": true}'
    signed = {"X-Shopify-Hmac-Sha256": sign(body)}
    path = "/api/webhooks/orders/create"
    assert call(demo, path, "POST", raw=body, headers=signed) == (
        401,
        {"detail": "HMAC verification failed"},
    )
    stale = {"X-Shopify-Hmac-Sha256": sign(body, "demo-shopify-api-secret-before-rotation")}
    assert call(demo, path, "POST", raw=body, headers=stale)[0] == 200  # what the app expects


def test_sync_stalled(demo: Served) -> None:
    faults(demo, "sync-stalled")
    jobs = call(demo, "/api/integrations/shopify/jobs", headers=TENANT)[1]
    assert (jobs["jobs"][0]["status"], jobs["jobs"][0]["finished_at"]) == ("running", None)
    assert jobs["jobs"][0]["started_at"] == "2026-05-28T18:51:40Z"  # 95 minutes ago
    assert jobs["last_success_at"] == "2026-05-28T14:22:20Z"  # 6 hours and 4 minutes ago
    path = "/api/elite/portal/returns/lookup-order"
    new = {"order_number": "1005", "customer_email": "kim@example.com"}  # placed 90 min ago
    assert call(demo, path, "POST", new, TENANT) == (404, {"detail": "Order not found"})
    old = {"order_number": "1001", "customer_email": "test@example.com"}
    assert call(demo, path, "POST", old, TENANT)[0] == 200


def test_portal_errors(demo: Served) -> None:
    faults(demo, "portal-errors")
    asked = {"order_number": "1001", "customer_email": "test@example.com"}
    path = "/api/elite/portal/returns/lookup-order"
    assert call(demo, path, "POST", asked, TENANT) == (500, {"detail": "Internal Server Error"})
    assert call(demo, "/api/elite/portal/returns/create", "POST", {}, TENANT)[0] == 500
    assert call(demo, "/api/health")[1]["metrics"]["error_rate_percent"] == 10.0


def test_slow(demo: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(returns, "SLOW_SECONDS", 0.3)
    faults(demo, "slow")
    health = call(demo, "/api/health")[1]
    assert health["metrics"]["avg_response_ms"] == 4200
    assert health["database_connections"]["percent"] == 88.0
    started = time.perf_counter()
    assert call(demo, "/api/returns/", headers=TENANT)[0] == 200
    assert time.perf_counter() - started >= 0.3


def test_db_down(demo: Served) -> None:
    faults(demo, "db-down")
    status, health = call(demo, "/api/health")
    assert status == 500 and (health["status"], health["database"]) == ("unhealthy", "disconnected")
    status, answer = call(demo, "/api/integrations/shopify/status", headers=TENANT)
    assert status == 500 and "Database unavailable" in answer["detail"]


def test_keeps_supervisor_logs_and_nightly_backups(demo: Served) -> None:
    root = demo.state.root
    logs = sorted(path.name for path in (root / "logs").iterdir())
    assert logs[:3] == ["backend.err.log", "backend.err.log.10", "backend.err.log.20"]
    assert "backend.out.log" in logs and "frontend.err.log" in logs
    old = (root / "logs" / "backend.err.log.35").stat().st_mtime
    assert old == NOW - 35 * 86400
    backups = sorted((root / "backup").glob("2*.tar.gz"))
    assert len(backups) == 10 and backups[-1].name == "20260528_020000.tar.gz"
    with tarfile.open(backups[-1]) as tar:
        names = tar.getnames()
    assert "20260528_020000/returns_management/orders.bson" in names
    assert (root / "backup" / "config_20260528.tar.gz").exists()


def test_the_command_line_lists_its_faults_and_refuses_an_unknown_one(capsys) -> None:
    from runner.cli.main import main

    assert main(["demo", "faults"]) == 0
    out = capsys.readouterr().out
    assert "returns: Shopify returns service (seed 004) (listens on 127.0.0.1:3000)" in out
    assert all(f"--fault {fault}" in out for fault in returns.FAULTS)
    assert main(["demo", "serve", "returns", "--fault", "oauth-dwon"]) == 3
    assert "no fault 'oauth-dwon' in returns (did you mean 'oauth-down'?)" in (
        capsys.readouterr().err
    )


def test_backup_failed_rewrites_the_backups_as_it_is_switched(demo: Served) -> None:
    backup = demo.state.root / "backup"
    healthy = sorted(path.name for path in backup.iterdir())
    faults(demo, "backup-failed")  # no request needed: the files follow the switch
    dumps = sorted(backup.glob("2*.tar.gz"))
    assert [p.name for p in dumps] == [n for n in healthy if n.startswith("2")][:-3]
    assert dumps[-1].name == "20260525_020000.tar.gz"  # three nights missing
    assert dumps[-1].stat().st_mtime == NOW - 3 * 86400 - (NOW % 86400) + 2 * 3600
    with pytest.raises((tarfile.ReadError, EOFError)), tarfile.open(dumps[-1]) as tar:
        tar.getnames()  # cut short: the disk was full
    assert sorted(backup.glob("config_*.tar.gz"))[-1].name == "config_20260525.tar.gz"
    faults(demo)
    assert sorted(path.name for path in backup.iterdir()) == healthy


def test_has_a_mongodump_and_the_configuration_the_backup_runbook_needs(demo: Served) -> None:
    import struct
    import subprocess

    root = demo.state.root
    assert (root / "app" / "backend" / ".env").read_text().startswith("APP_URL=")
    assert (root / "app" / "frontend" / ".env").exists()
    out = root / "dump"
    done = subprocess.run(
        [str(root / "bin" / "mongodump"), "--db", "returns_management", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0 and "done dumping returns_management.orders" in done.stderr
    data = (out / "returns_management" / "orders.bson").read_bytes()
    first = struct.unpack("<i", data[:4])[0]  # a BSON document: its length, then its fields
    assert data[first - 1 : first] == b"\0" and b"orders-0" in data[:first]
