"""The warehouse management system of seed 003 (WMS, on PostgreSQL with Prometheus
metrics and Celery), as its runbooks see it: the backend's `/health` and its Prometheus
`/metrics` on port 8000, its database (runner.yaml's `wms` connection: the real
PostgreSQL when one is configured, else SQLite) and its dated logs in var/demo/wms/logs.

Switching the faults (PUT /_demo/faults) brings the database rows, today's log and the
stuck query in line with them at once, with no request needed (the stuck query of
`stuck-queries` starts running then), and every request does the same before it answers
from them, the clock and the faults (wms_metrics.py).
"""

from __future__ import annotations

import contextlib
from typing import Any

from runner.demos.base import DemoState

NAME = "wms"
TITLE = "Warehouse management system, WMS (seed 003)"
LISTEN = ("127.0.0.1", 8000)
FAULTS = {
    "api-down": "/health and the API answer 503: the backend is down (P1)",
    "slow": "request durations grow: p95 of wms_http_request_duration_seconds is about 4.6 s (P3)",
    "high-error-rate": "8 % of requests fail (wms_errors_total); ERROR lines in today's "
    "backend log (P2)",
    "db-connections-high": "wms_db_connections_active is 97 (the seed's critical: > 95)",
    "celery-backlog": "1,500 tasks wait in the Celery queue (wms_celery_queue_length)",
    "celery-down": "no Celery worker answers: wms_celery_workers_active and /health's "
    "celery.workers are 0 (the seed's compose ps, P4)",
    "celery-failing": "30 % of Celery tasks fail (wms_celery_tasks_total{status=failure}) (P4)",
    "stuck-queries": "a query runs pg_sleep on its own connection, over 5 s in pg_stat_activity "
    "until pg_terminate_backend ends it (PostgreSQL only)",
    "low-stock": "three stock rows fall below their product's reorder level, one to 0",
    "expiring": "two batches in stock expire in 3 and 10 days",
    "stale-accounts": "an active user last logged in 45 days ago (the monthly account review)",
    "high-cpu": "wms_cpu_usage_percent is 93 (critical: > 90)",
    "high-memory": "wms_memory_usage_percent is 96 (critical: > 95)",
    "disk-full": "wms_disk_usage_percent is 94 (critical: > 90)",
}


def build(state: DemoState) -> Any:
    """The backend's routes, reading `state` at each request."""
    from prometheus_client import CollectorRegistry
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    from runner.demos.wms_metrics import Traffic, WmsCollector, exposition
    from runner.demos.wms_store import WmsStore

    store = WmsStore(state)
    traffic = Traffic(state)
    registry = CollectorRegistry(auto_describe=True)
    registry.register(WmsCollector(state, store, traffic))
    store.sync()  # faults given at start (--fault) are in the rows before the first request

    def follow() -> None:
        """What every request does first: the counters' stretch closed, rows in line."""
        traffic.observe()
        store.sync()

    def down() -> JSONResponse:
        return JSONResponse(
            {"detail": "Service Unavailable: the backend is not answering"}, status_code=503
        )

    def health(request: Request) -> JSONResponse:
        follow()
        if state.has("api-down"):
            return down()
        database = store.database_ok()
        body = {
            "status": "healthy" if database else "unhealthy",
            "version": "6.0.0",
            "database": "connected" if database else "unreachable",
            "database_engine": "postgresql" if store.is_postgres else "sqlite",
            "celery": {
                "workers": 0 if state.has("celery-down") else 2,
                "queue_length": 1500 if state.has("celery-backlog") else 3,
            },
        }
        return JSONResponse(body, status_code=200 if database else 503)

    def metrics(request: Request) -> Response:
        follow()
        if state.has("api-down"):
            return down()
        return Response(exposition(registry), media_type="text/plain; version=0.0.4; charset=utf-8")

    def stock(request: Request) -> JSONResponse:
        follow()
        if state.has("api-down"):
            return down()
        rows = [{"warehouse_id": w, "product_id": p, "quantity": q} for w, p, q in store.stock()]
        return JSONResponse({"items": rows, "count": len(rows)})

    # Sync endpoints: Starlette runs them in its thread pool, where the database calls block.
    app = Starlette(
        routes=[
            Route("/health", health),
            Route("/metrics", metrics),
            Route("/api/v1/inventory/stock", stock),
        ]
    )

    def switched(faults: frozenset[str]) -> None:
        """A switch (PUT /_demo/faults): the counters' stretch closed under the faults
        before it, and the rows, the log and the stuck query in line at once."""
        with contextlib.suppress(Exception):  # the database is down: the next request retries
            follow()

    state.on_faults(switched)
    return app
