"""The wms demo's /metrics: the metric names of seed 003 ("Prometheus Metrics (Phase 6E)")
and gauges for its "Key Metrics to Monitor" table, exposed with prometheus_client.

Each app has a CollectorRegistry of its own holding one collector, which works the values
out at each scrape from the demo's clock, its faults and its database: requests and
their durations grow at a steady 20 a second from the moment the demo started, the share
of errors, the durations, the Celery figures and the resource gauges are what the faults
on now say, and stock and expiry warnings are read from the rows. Switching a fault
changes the next scrape (a counter whose share changes may go down: Prometheus reads
that as a counter reset).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from runner.demos.base import DemoState
from runner.demos.wms_store import WmsStore

REQUESTS_PER_SECOND = 20
BASE_REQUESTS = 50_000
#: (method, endpoint, share of the requests)
ENDPOINTS = (
    ("GET", "/api/v1/inventory/stock", 0.6),
    ("POST", "/api/v1/movements", 0.3),
    ("GET", "/health", 0.1),
)
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: share of requests at or under each bucket: p95 is about 0.24 s healthy, 4.6 s `slow`
HEALTHY_CDF = (0.05, 0.15, 0.35, 0.6, 0.85, 0.96, 0.99, 0.998, 1.0, 1.0, 1.0)
SLOW_CDF = (0.0, 0.0, 0.01, 0.03, 0.08, 0.2, 0.4, 0.6, 0.85, 0.97, 1.0)
CELERY_TASKS = ("send_expiry_alerts", "update_stock_levels", "generate_reports")


def error_share(state: DemoState) -> float:
    """The share of requests that fail: 0.2 % healthy, 8 % with `high-error-rate`."""
    return 0.08 if state.has("high-error-rate") else 0.002


def figures(state: DemoState) -> dict[str, float]:
    """The gauges the faults set: the seed's metrics table, DB connections, Celery."""
    return {
        "cpu": 93.0 if state.has("high-cpu") else 35.0,
        "memory": 96.0 if state.has("high-memory") else 62.0,
        "disk": 94.0 if state.has("disk-full") else 54.0,
        "connections": 97.0 if state.has("db-connections-high") else 12.0,
        "queue": 1500.0 if state.has("celery-backlog") else 3.0,
        "workers": 2.0,
        "task_failure_share": 0.3 if state.has("celery-failing") else 0.01,
    }


class WmsCollector:
    """prometheus_client's custom collector: every family worked out at each scrape."""

    def __init__(self, state: DemoState, store: WmsStore, started: float) -> None:
        self.state = state
        self.store = store
        self.started = started

    def requests(self) -> int:
        elapsed = max(0.0, self.state.clock() - self.started)
        return BASE_REQUESTS + int(elapsed * REQUESTS_PER_SECOND)

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        state, total = self.state, self.requests()
        errors = round(total * error_share(state))
        values = figures(state)

        requests = CounterMetricFamily(
            "wms_http_requests", "HTTP requests", labels=["method", "endpoint", "status_code"]
        )
        durations = HistogramMetricFamily(
            "wms_http_request_duration_seconds",
            "HTTP request duration in seconds",
            labels=["method", "endpoint"],
        )
        cdf = SLOW_CDF if state.has("slow") else HEALTHY_CDF
        for method, endpoint, share in ENDPOINTS:
            count = round(total * share)
            failed = round(errors * share)
            requests.add_metric([method, endpoint, "200"], count - failed)
            requests.add_metric([method, endpoint, "500"], failed)
            buckets = [(str(le), round(count * f)) for le, f in zip(BUCKETS, cdf, strict=True)]
            buckets.append(("+Inf", count))
            mean = 3.0 if state.has("slow") else 0.08
            durations.add_metric([method, endpoint], buckets, sum_value=count * mean)
        yield requests
        yield durations

        failures = CounterMetricFamily(
            "wms_errors", "Errors by type and severity", labels=["error_type", "severity"]
        )
        failures.add_metric(["http_5xx", "error"], round(errors * 0.9))
        failures.add_metric(["database", "critical"], errors - round(errors * 0.9))
        yield failures

        stock = GaugeMetricFamily(
            "wms_inventory_stock_total",
            "Units in stock by warehouse and product",
            labels=["warehouse_id", "product_id"],
        )
        expiry = GaugeMetricFamily(
            "wms_inventory_expiry_warnings_total",
            "Batches in stock expiring within 7 (critical) or 30 days (warning)",
            labels=["urgency"],
        )
        with contextlib.suppress(Exception):  # the database is down: these stay empty
            for warehouse, product, quantity in self.store.stock():
                stock.add_metric([str(warehouse), str(product)], quantity)
            for urgency, count in self.store.expiry_warnings().items():
                expiry.add_metric([urgency], count)
        yield stock
        yield expiry

        yield GaugeMetricFamily(
            "wms_db_connections_active", "Active database connections", value=values["connections"]
        )
        tasks = CounterMetricFamily(
            "wms_celery_tasks", "Celery tasks run", labels=["task_name", "status"]
        )
        done = 2_000 + total // 100
        for name in CELERY_TASKS:
            failed = round(done * values["task_failure_share"])
            tasks.add_metric([name, "success"], done - failed)
            tasks.add_metric([name, "failure"], failed)
        yield tasks
        queue = GaugeMetricFamily(
            "wms_celery_queue_length", "Tasks waiting in the Celery queue", labels=["queue"]
        )
        queue.add_metric(["celery"], values["queue"])
        yield queue
        yield GaugeMetricFamily(
            "wms_celery_workers_active", "Celery workers answering", value=values["workers"]
        )
        for key, name, what in (
            ("cpu", "wms_cpu_usage_percent", "CPU usage of the WMS server"),
            ("memory", "wms_memory_usage_percent", "Memory usage of the WMS server"),
            ("disk", "wms_disk_usage_percent", "Disk usage of the WMS data volume"),
        ):
            yield GaugeMetricFamily(name, f"{what}, in percent", value=values[key])


def exposition(registry: Any) -> bytes:
    from prometheus_client import generate_latest

    return bytes(generate_latest(registry))
