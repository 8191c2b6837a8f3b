"""The wms demo's /metrics: the metric names of seed 003 ("Prometheus Metrics (Phase 6E)")
and gauges for its "Key Metrics to Monitor" table, exposed with prometheus_client.

Each app has a CollectorRegistry of its own holding one collector, which works the values
out at each scrape from the demo's clock, its faults and its database. The counters are
honest: requests grow at a steady 20 a second, and errors and failed Celery tasks grow
by the share of the faults that were on while they grew (Traffic), so a fault switched
on a minute ago adds a minute of errors to days of good requests, as in production,
where a ratio of the lifetime counters hides a recent outage. The durations, the
Celery gauges and the resource gauges are what the faults on now say, and stock and
expiry warnings are read from the rows.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from runner.demos.base import DemoState
from runner.demos.wms_store import WmsStore

REQUESTS_PER_SECOND = 20
BASE_REQUESTS = 50_000
BASE_TASKS = 1_500
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


def error_share(faults: frozenset[str]) -> float:
    """The share of requests that fail: 0.2 % healthy, 8 % with `high-error-rate`."""
    return 0.08 if "high-error-rate" in faults else 0.002


def task_failure_share(faults: frozenset[str]) -> float:
    """The share of Celery tasks that fail: 1 % healthy, 30 % with `celery-failing`."""
    return 0.3 if "celery-failing" in faults else 0.01


class Traffic:
    """The counters of requests, errors, Celery tasks and failed tasks, grown from the
    demo's start by its clock: each stretch of time adds its requests (20 a second, a
    Celery task per 100) and its errors and failures at the share of the faults that
    were on during it. `observe` closes the stretch since the last one: the app calls
    it on every request and on every switch of the faults (DemoState.on_faults)."""

    def __init__(self, state: DemoState) -> None:
        self.state = state
        self.lock = threading.Lock()
        self.at = state.clock()
        self.faults = state.faults
        self.requests = float(BASE_REQUESTS)
        self.errors = BASE_REQUESTS * error_share(frozenset())
        self.tasks = BASE_TASKS + BASE_REQUESTS / 100
        self.failed = self.tasks * task_failure_share(frozenset())

    def observe(self) -> None:
        with self.lock:
            now = self.state.clock()
            added = max(0.0, now - self.at) * REQUESTS_PER_SECOND
            self.requests += added
            self.errors += added * error_share(self.faults)
            self.tasks += added / 100
            self.failed += added / 100 * task_failure_share(self.faults)
            self.at, self.faults = max(now, self.at), self.state.faults


def figures(state: DemoState) -> dict[str, float]:
    """The gauges the faults set: the seed's metrics table, DB connections, Celery."""
    return {
        "cpu": 93.0 if state.has("high-cpu") else 35.0,
        "memory": 96.0 if state.has("high-memory") else 62.0,
        "disk": 94.0 if state.has("disk-full") else 54.0,
        "connections": 97.0 if state.has("db-connections-high") else 12.0,
        "queue": 1500.0 if state.has("celery-backlog") else 3.0,
        "workers": 0.0 if state.has("celery-down") else 2.0,
    }


class WmsCollector:
    """prometheus_client's custom collector: every family worked out at each scrape."""

    def __init__(self, state: DemoState, store: WmsStore, traffic: Traffic) -> None:
        self.state = state
        self.store = store
        self.traffic = traffic

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        state, traffic = self.state, self.traffic
        traffic.observe()
        with traffic.lock:
            # not rounded: the share of a short stretch reads true, however few its requests
            total, errors = traffic.requests, traffic.errors
            done, failures_done = traffic.tasks, traffic.failed
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
            count = total * share
            failed = errors * share
            requests.add_metric([method, endpoint, "200"], count - failed)
            requests.add_metric([method, endpoint, "500"], failed)
            buckets = [(str(le), count * f) for le, f in zip(BUCKETS, cdf, strict=True)]
            buckets.append(("+Inf", count))
            mean = 3.0 if state.has("slow") else 0.08
            durations.add_metric([method, endpoint], buckets, sum_value=count * mean)
        yield requests
        yield durations

        failures = CounterMetricFamily(
            "wms_errors", "Errors by type and severity", labels=["error_type", "severity"]
        )
        failures.add_metric(["http_5xx", "error"], errors * 0.9)
        failures.add_metric(["database", "critical"], errors * 0.1)
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
        for name in CELERY_TASKS:
            tasks.add_metric([name, "success"], done - failures_done)
            tasks.add_metric([name, "failure"], failures_done)
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
