"""A stand-in for seed 002's EDI file processor: its API on 127.0.0.1:5000 and its files.

    GET /health          200 {"status": "healthy" | "degraded", "monitor": {...},
                         "disk": {...}, "directories": {...}, "dependencies": {...}};
                         503 {"status": "unhealthy", ...} when the API is down
    GET /api/v1/status   the key metrics of the seed's Monitoring section: processing
                         rate (files per hour), error rate (%), average and p95
                         processing time (s), queue depth (and the oldest file's age),
                         and the error-code counts E001-E005 of the last 24 hours

Its files live in var/demo/edi (see edi_files.py): the pickup and error folders, the
dated logs, the metrics database and the backups that the seed's troubleshooting and
maintenance read. Faults (edi_scenario.py) change the numbers and the files; the files
are written as the demo starts, follow a fault as it is switched, and are brought up to
date with the clock at each request.

The disk the API reports is the processor's data volume, simulated (100 GiB, 42% used;
96% with `disk-full`), so the fault can be seen without filling a real disk; the
runbooks' `system` step measures the real disk of the folder it is given beside it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from runner.demos.edi_scenario import ERROR_CODES, FAULTS, Scenario, scenario

if TYPE_CHECKING:
    from runner.demos.base import DemoState

NAME = "edi"
TITLE = "EDI file processor (seed 002)"
LISTEN = ("127.0.0.1", 5000)
VERSION = "2.4.1"
VOLUME_BYTES = 100 * 1024**3

__all__ = ["FAULTS", "LISTEN", "NAME", "TITLE", "build"]


def health(s: Scenario, state: DemoState, now: float) -> tuple[int, dict[str, Any]]:
    """/health: the API, the file monitor, the data volume, the folders, the systems."""
    if not s.api_up:
        return 503, {
            "status": "unhealthy",
            "error": "database connection pool exhausted (30 of 30 in use)",
            "version": VERSION,
        }
    used = int(VOLUME_BYTES * s.disk_percent / 100)
    return 200, {
        "status": s.status,
        "version": VERSION,
        "time": _iso(now),
        "monitor": {
            "running": s.monitor_running,
            "last_poll": _iso(now - s.seconds_since_poll),
            "seconds_since_poll": s.seconds_since_poll,
        },
        "disk": {
            "path": str(state.root),
            "percent": s.disk_percent,
            "used_bytes": used,
            "free_bytes": VOLUME_BYTES - used,
            "total_bytes": VOLUME_BYTES,
        },
        "directories": {
            "pickup": {"path": "pickup", "readable": s.pickup_readable, "writable": True},
            "error": {"path": "error", "readable": True, "writable": True},
            "logs": {"path": "logs", "readable": True, "writable": True},
            "metrics": {"path": "metrics", "readable": True, "writable": True},
        },
        "dependencies": {
            name: {"status": dep.status, "latency_ms": dep.latency_ms}
            for name, dep in (
                ("sterling", s.sterling),
                ("acumatica", s.acumatica),
                ("database", s.database),
            )
        },
    }


def status(s: Scenario, now: float) -> tuple[int, dict[str, Any]]:
    """/api/v1/status: the seed's key metrics."""
    if not s.api_up:
        return 503, {"status": "unhealthy", "error": "service unavailable"}
    return 200, {
        "status": s.status,
        "as_of": _iso(now),
        "processing": {
            "files_per_hour": s.files_per_hour,
            "processed_last_hour": s.processed_last_hour,
            "failed_last_hour": s.failed_last_hour,
            "error_rate_percent": s.error_rate_percent,
            "avg_processing_seconds": s.avg_seconds,
            "p95_processing_seconds": s.p95_seconds,
            "avg_file_kb": s.avg_file_kb,
        },
        "queue": {"depth": s.queue_depth, "oldest_seconds": s.oldest_seconds},
        "workers": {"busy": s.workers_busy, "max": s.workers_max},
        "errors_24h": dict(s.errors_24h),
        "error_codes": {
            code: {"description": text, "resolution": fix}
            for code, (text, fix) in ERROR_CODES.items()
        },
    }


def build(state: DemoState) -> Any:
    """The processor's API; each request reads the faults and the clock, and brings the
    files under state.root up to date with them first."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from runner.demos.edi_files import World

    world = World(state.root, state.clock)
    world.sync(state.faults, scenario(state.faults))  # the files are there before a request
    state.on_faults(lambda faults: world.sync(faults, scenario(faults)))  # and follow a switch

    def now_scenario() -> tuple[Scenario, float]:
        faults = state.faults
        current = scenario(faults)
        world.sync(faults, current)
        return current, state.clock()

    async def health_route(request: Request) -> JSONResponse:
        current, now = now_scenario()
        code, body = health(current, state, now)
        return JSONResponse(body, code)

    async def status_route(request: Request) -> JSONResponse:
        current, now = now_scenario()
        code, body = status(current, now)
        return JSONResponse(body, code)

    now_scenario()  # the files are there as soon as the demo listens
    return Starlette(
        routes=[
            Route("/health", health_route),
            Route("/api/v1/status", status_route),
        ]
    )


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="seconds")
