"""What the returns demo (returns.py) says, derived from its clock and its faults.

Every answer is a function of `now` (seconds since the epoch) and the faults switched
on, never random, so tests know what each endpoint answers. The tenant is seed 004's
`tenant-rms34` on the shop `rms34.myshopify.com`; its orders are the few the customer
portal's examples name (order 1001 of test@example.com, Shopify id 5813364687033).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import os
import sys
import tarfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

TENANT = "tenant-rms34"
SHOP = "rms34.myshopify.com"
#: The app's API secret, which Shopify signs webhooks with (seed 004 "HMAC Verification
#: Debug": `echo $SHOPIFY_API_SECRET`); this default is the demo's only.
SECRET_ENV = "SHOPIFY_API_SECRET"
DEMO_SECRET = "demo-shopify-api-secret"
WEBHOOK_TOPICS = ("orders/create", "orders/updated", "app/uninstalled")
#: Shopify's own answer to a revoked or expired access token.
TOKEN_ERROR = "[API] Invalid API key or access token (unrecognized login or wrong password)"

MINUTE = 60
HOUR = 3600
DAY = 86400

Has = Callable[[str], bool]

#: The tenant's orders: number -> (Shopify id, customer email, minutes before now placed).
ORDERS: dict[str, tuple[str, str, int]] = {
    "1001": ("5813364687033", "test@example.com", 9 * 24 * 60),
    "1002": ("5813364687034", "ana@example.com", 6 * 24 * 60),
    "1003": ("5813364687035", "li@example.com", 2 * 24 * 60),
    "1004": ("5813364687036", "sam@example.com", 20 * 60),
    "1005": ("5813364687037", "kim@example.com", 90),
}
#: Orders placed after the last sync that a stalled sync never brought in.
SYNC_STALLED_MINUTES = 6 * 60


def iso(moment: float) -> str:
    """A timestamp as the app's API writes it (UTC, ISO 8601, seconds)."""
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def secret() -> str:
    return os.environ.get(SECRET_ENV) or DEMO_SECRET


def signature(body: bytes, key: str) -> str:
    """Shopify's webhook signature: base64 of HMAC-SHA256 of the raw body."""
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


def signed(body: bytes, header: str | None, key: str | None = None) -> bool:
    """Whether `header` is the body's signature with `key` (default: the app's secret)."""
    expected = signature(body, key if key is not None else secret())
    return header is not None and hmac.compare_digest(expected, header)


def stale_secret() -> str:
    """The secret the app verifies with under `webhooks-failing`: not Shopify's."""
    return secret() + "-before-rotation"


# --- /api/health ---------------------------------------------------------------------


def health(now: float, has: Has) -> dict[str, Any]:
    """The app's health with the numbers seed 004's alert thresholds are about: requests,
    errors and response times over the last 5 minutes, MongoDB's connections; and the
    database's size (db.stats()), which the monthly maintenance follows."""
    requests, errors, average, p95 = 1240, 6, 180, 420
    current, available = 18, 82  # db.runCommand({serverStatus: 1}).connections
    if has("slow"):
        average, p95, current, available = 4200, 7900, 88, 12
    if has("portal-errors"):
        errors = 124
    return {
        "status": "healthy",
        "database": "connected",
        "timestamp": iso(now),
        "version": "2.4.1",
        "metrics": {
            "window_minutes": 5,
            "requests": requests,
            "errors": errors,
            "error_rate_percent": round(100 * errors / requests, 1),
            "avg_response_ms": average,
            "p95_response_ms": p95,
        },
        "database_connections": {
            "current": current,
            "available": available,
            "percent": round(100 * current / (current + available), 1),
        },
        "database_stats": {  # db.stats(), in MiB
            "data_size_mb": 412.5,
            "storage_size_mb": 530.2,
            "index_size_mb": 38.4,
        },
    }


# --- /api/integrations/shopify/status and /jobs ------------------------------------------


def shopify_status(now: float, has: Has, base_url: str) -> dict[str, Any]:
    token_ok = not has("oauth-down")
    webhooks = _webhooks(now, has)
    return {
        "tenant_id": TENANT,
        "shop": SHOP,
        "connected": token_ok,
        "status": "connected" if token_ok else "token_invalid",
        "app_url": base_url,
        "redirect_uri": f"{base_url}/api/auth/shopify/callback",
        "token": {
            "valid": token_ok,
            "scopes": ["read_orders", "write_returns", "read_customers"] if token_ok else [],
            "checked_at": iso(now - 2 * MINUTE),
            "error": None if token_ok else f"401 Unauthorized: {TOKEN_ERROR}",
        },
        "webhooks": webhooks,
        "last_sync_at": _jobs(now, has)["last_success_at"],
    }


def _webhooks(now: float, has: Has) -> dict[str, Any]:
    if has("webhooks-failing"):
        # A deployment 190 minutes ago left the app verifying with another secret than
        # Shopify signs with: every webhook is refused (401, HMAC), Shopify has removed
        # two subscriptions after its retries, and the events from before wait.
        return {
            "registered": [_subscription("app/uninstalled")],
            "expected": list(WEBHOOK_TOPICS),
            "last_received_at": iso(now - 3 * MINUTE),
            "last_processed_at": iso(now - 190 * MINUTE),
            "received_15m": 41,
            "failed_15m": 41,
            "hmac_failures_15m": 41,
            "failure_rate_percent": 100.0,
            "unprocessed": 126,
        }
    return {
        "registered": [_subscription(topic) for topic in WEBHOOK_TOPICS],
        "expected": list(WEBHOOK_TOPICS),
        "last_received_at": iso(now - 4 * MINUTE),
        "last_processed_at": iso(now - 4 * MINUTE),
        "received_15m": 37,
        "failed_15m": 1,
        "hmac_failures_15m": 0,
        "failure_rate_percent": 2.7,
        "unprocessed": 0,
    }


def _subscription(topic: str) -> dict[str, str]:
    return {"topic": topic, "address": f"/api/webhooks/{topic}", "format": "json"}


def _jobs(now: float, has: Has) -> dict[str, Any]:
    """The tenant's sync jobs, newest first: an incremental sync every 15 minutes."""
    jobs: list[dict[str, Any]] = []
    start = now - 7 * MINUTE
    if has("sync-stalled"):
        # The lock of a run that started 95 minutes ago and never finished holds back
        # the ones after it; the last one that finished did 6 hours ago.
        jobs.append(_job(now - 95 * MINUTE, "running", None, 0))
        start = now - SYNC_STALLED_MINUTES * MINUTE - 5 * MINUTE
    failing = has("oauth-down")
    for index in range(5):
        began = start - index * 15 * MINUTE
        if failing and index < 2:
            jobs.append(_job(began, "failed", f"Shopify API 401: {TOKEN_ERROR}", 0))
        else:
            jobs.append(_job(began, "completed", None, 12 - index))
    success = next(job for job in jobs if job["status"] == "completed")
    return {"tenant_id": TENANT, "jobs": jobs, "last_success_at": success["finished_at"]}


def _job(began: float, status: str, error: str | None, orders: int) -> dict[str, Any]:
    finished = None if status == "running" else iso(began + 40)
    return {
        "id": f"sync-{int(began) // 60}",
        "type": "incremental",
        "status": status,
        "started_at": iso(began),
        "finished_at": finished,
        "orders_synced": orders,
        "error": error,
    }


def jobs(now: float, has: Has) -> dict[str, Any]:
    return _jobs(now, has)


# --- the customer portal -------------------------------------------------------------


def order(number: str, email: str, now: float, has: Has) -> dict[str, Any] | None:
    """The order the portal finds for this number and email, or None ("Order not
    found"): with the sync stalled, orders placed since the last sync are missing."""
    found = ORDERS.get(number.lstrip("#"))
    if found is None or found[1].lower() != email.strip().lower():
        return None
    shopify_id, customer, minutes = found
    if has("sync-stalled") and minutes < SYNC_STALLED_MINUTES:
        return None
    return {
        "id": shopify_id,
        "order_number": number.lstrip("#"),
        "customer_email": customer,
        "created_at": iso(now - minutes * MINUTE),
        "line_items": [
            {"id": "123", "title": "Canvas tote", "quantity": 1, "price": "39.00"},
            {"id": "124", "title": "Linen shirt", "quantity": 2, "price": "58.00"},
        ],
        "return_window_days": 30,
        "eligible": minutes < 30 * 24 * 60,
    }


def returns_list(now: float) -> dict[str, Any]:
    items = [
        {
            "id": f"ret-{index}",
            "order_number": number,
            "status": status,
            "created_at": iso(now - (index + 1) * 5 * HOUR),
        }
        for index, (number, status) in enumerate(
            [("1001", "requested"), ("1002", "approved"), ("1003", "refunded")]
        )
    ]
    return {"tenant_id": TENANT, "items": items, "total": len(items)}


# --- files: supervisor logs and backups ----------------------------------------------


#: Nights the nightly backup has failed under the `backup-failed` fault.
BACKUP_FAILED_NIGHTS = 3


def write_files(root: Path, now: float, has: Has = lambda fault: False) -> None:
    """The app's logs (/var/log/supervisor/*.log in the seed) and its backups
    (/backup/<date>_<time>.tar.gz, nightly at 02:00, and config_<date>.tar.gz)."""
    logs = root / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    for name, lines in (
        ("backend.out.log", _access_lines(now)),
        ("backend.err.log", _error_lines(now)),
        ("frontend.err.log", []),
    ):
        path = logs / name
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        os.utime(path, (now - 60, now - 60))
    for days in (3, 10, 20, 35, 50):  # rotated by supervisor: backend.err.log.1, ...
        path = logs / f"backend.err.log.{days}"
        path.write_text(f"{iso(now - days * DAY)} ERROR webhook retry\n", encoding="utf-8")
        os.utime(path, (now - days * DAY, now - days * DAY))
    write_backups(root, now, has)
    for app in ("backend", "frontend"):  # the configuration the seed backs up
        env = root / "app" / app / ".env"
        env.parent.mkdir(parents=True, exist_ok=True)
        env.write_text(f"APP_URL=http://127.0.0.1:3000\nSERVICE={app}\n", encoding="utf-8")
    tools = root / "bin"
    tools.mkdir(exist_ok=True)
    mongodump = tools / "mongodump"
    mongodump.write_text(MONGODUMP.replace("PYTHON", sys.executable), encoding="utf-8")
    mongodump.chmod(0o755)


#: The demo's stand-in for MongoDB's mongodump (`mongodump --db DB --out DIR`): it writes
#: DIR/DB/<collection>.bson (real BSON documents) and .metadata.json as mongodump does.
MONGODUMP = """#!PYTHON
import json, os, struct, sys

def bson(doc):
    body = b""
    for key, value in doc.items():
        text = str(value).encode() + b"\\0"
        body += b"\\x02" + key.encode() + b"\\0" + struct.pack("<i", len(text)) + text
    return struct.pack("<i", len(body) + 5) + body + b"\\0"

args = sys.argv[1:]
db = args[args.index("--db") + 1] if "--db" in args else "test"
out = args[args.index("--out") + 1] if "--out" in args else "dump"
folder = os.path.join(out, db)
os.makedirs(folder, exist_ok=True)
for name in ("orders", "returns", "tenants", "sync_jobs", "webhook_events"):
    with open(os.path.join(folder, name + ".bson"), "wb") as handle:
        for n in range(20):
            handle.write(bson({"_id": f"{name}-{n}", "tenant_id": "tenant-rms34"}))
    with open(os.path.join(folder, name + ".metadata.json"), "w") as handle:
        json.dump({"collectionName": name, "indexes": []}, handle)
    print(f"done dumping {db}.{name} (20 documents)", file=sys.stderr)
"""


def write_backups(root: Path, now: float, has: Has = lambda fault: False) -> None:
    """Ten nights of backups, nightly at 02:00 (the seed keeps 7); with `backup-failed`
    the last BACKUP_FAILED_NIGHTS nights wrote nothing (the disk was full) and the dump
    of the night before was cut short. The backups made before are replaced."""
    backup = root / "backup"
    backup.mkdir(parents=True, exist_ok=True)
    for old in [*backup.glob("2*.tar.gz"), *backup.glob("config_*.tar.gz")]:
        old.unlink()
    skipped = BACKUP_FAILED_NIGHTS if has("backup-failed") else 0
    midnight = now - now % DAY
    nights = [m for m in (midnight - d * DAY + 2 * HOUR for d in range(10)) if m <= now]
    for night, moment in enumerate(nights):
        if night < skipped:
            continue
        stamp = datetime.fromtimestamp(moment, UTC)
        dump = backup / f"{stamp:%Y%m%d_%H%M%S}.tar.gz"
        _tarball(dump, stamp.strftime("%Y%m%d_%H%M%S"), moment)
        _tarball(backup / f"config_{stamp:%Y%m%d}.tar.gz", "app/backend", moment, ".env")
        if skipped and night == skipped:  # the newest left: cut short
            dump.write_bytes(dump.read_bytes()[:100])
            os.utime(dump, (moment, moment))


def _tarball(path: Path, folder: str, moment: float, single: str | None = None) -> None:
    """A real tar.gz as mongodump and tar make it: the collections under
    <folder>/returns_management/ (or one config file)."""
    names = (
        [single]
        if single
        else [
            f"returns_management/{c}.bson"
            for c in ("orders", "returns", "tenants", "sync_jobs", "webhook_events")
        ]
    )
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        for name in names:
            data = f"{name} {iso(moment)}\n".encode() * 20
            info = tarfile.TarInfo(f"{folder}/{name}")
            info.size, info.mtime = len(data), int(moment)
            tar.addfile(info, io.BytesIO(data))
    path.write_bytes(buffer.getvalue())
    os.utime(path, (moment, moment))


def _access_lines(now: float) -> list[str]:
    return [
        f"{iso(now - (30 - i) * MINUTE)} INFO GET /api/returns/ 200 response_time=0.{180 + i}s"
        for i in range(30)
    ]


def _error_lines(now: float) -> list[str]:
    return [
        f"{iso(now - 50 * MINUTE)} ERROR webhook orders/updated: HMAC verification failed",
        f"{iso(now - 20 * MINUTE)} ERROR lookup-order: Order not found (order 9999)",
    ]
