"""The wms demo (seed 003): /health, the seed's Prometheus metrics, each fault, its SQLite
database and logs. PostgreSQL's side (the same tables there, the stuck query) is
tests/test_runbooks_wms.py."""

from __future__ import annotations

import json
import socket
import sqlite3
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from runner.cli.main import main
from runner.databases.demo import ensure_demo
from runner.databases.demo_wms import LOW_STOCK, PRODUCTS, stock_quantity
from runner.demos import SYSTEMS, system
from runner.demos.base import DemoState
from runner.demos.server import Served, serving
from runner.language.config import load_config

WMS = system("wms")
START = datetime(2026, 3, 2, 6, 30, tzinfo=UTC).timestamp()


class Clock:
    """The demo's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def demo(root: Path, *faults: str, clock: Any = None) -> Iterator[Served]:
    """The wms demo on a free port, its database the runner.yaml of `root` names."""
    (root / "runner.yaml").write_text(
        "connections:\n  wms: {sqlite: var/demo/wms.db, demo: wms}\nstate: var/runner.db\n",
        encoding="utf-8",
    )
    state = DemoState(
        root / "var" / "demo" / "wms",
        faults=faults,
        config=load_config(root / "runner.yaml"),
        clock=clock or Clock(),
    )
    served = Served(WMS, state, "127.0.0.1", free_port())
    with serving([served]):
        yield served


def get(url: str, method: str = "GET", body: bytes | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def metrics(served: Served) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Every sample by sample name, read back with prometheus_client's own parser."""
    status, body = get(served.url + "/metrics")
    assert status == 200, body
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def one(samples: dict[str, Any], name: str) -> float:
    (found,) = samples[name]
    return float(found[1])


def switch(served: Served, *faults: str) -> None:
    status, body = get(served.url + "/_demo/faults", "PUT", json.dumps(list(faults)).encode())
    assert status == 200, body


def test_registered_in_frame_order_with_the_seed_port() -> None:
    assert "wms" in SYSTEMS
    assert WMS.LISTEN == ("127.0.0.1", 8000)
    assert set(WMS.FAULTS) >= {"api-down", "slow", "high-error-rate", "stuck-queries", "disk-full"}


def test_health_and_the_seed_metric_names(tmp_path: Path) -> None:
    with demo(tmp_path) as served:
        status, body = get(served.url + "/health")
        assert status == 200
        health = json.loads(body)
        assert health["status"] == "healthy" and health["database"] == "connected"
        assert health["database_engine"] == "sqlite"
        samples = metrics(served)
    for name in (
        "wms_http_requests_total",
        "wms_http_request_duration_seconds_bucket",
        "wms_inventory_stock_total",
        "wms_inventory_expiry_warnings_total",
        "wms_db_connections_active",
        "wms_celery_tasks_total",
        "wms_errors_total",
        "wms_celery_queue_length",
        "wms_cpu_usage_percent",
        "wms_memory_usage_percent",
        "wms_disk_usage_percent",
    ):
        assert name in samples, name
    labels = {tuple(sorted(s[0])) for s in samples["wms_http_requests_total"]}
    assert labels == {("endpoint", "method", "status_code")}
    assert {tuple(sorted(s[0])) for s in samples["wms_http_request_duration_seconds_bucket"]} == {
        ("endpoint", "le", "method")
    }
    assert one(samples, "wms_db_connections_active") == 12
    assert one(samples, "wms_cpu_usage_percent") < 70
    stock = {
        (s[0]["warehouse_id"], s[0]["product_id"]): s[1]
        for s in samples["wms_inventory_stock_total"]
    }
    assert len(stock) == 3 * len(PRODUCTS)
    assert stock[("1", "4")] == stock_quantity(1, 4)
    expiry = {s[0]["urgency"]: s[1] for s in samples["wms_inventory_expiry_warnings_total"]}
    assert expiry == {"critical": 0, "warning": 0}


def _error_percent(samples: dict[str, Any]) -> float:
    errors = sum(v for _, v in samples["wms_errors_total"])
    total = sum(v for _, v in samples["wms_http_requests_total"])
    return 100 * errors / total


def _p95_seconds(samples: dict[str, Any]) -> float:
    """histogram_quantile(0.95) over every series, as Prometheus works it out."""
    buckets: dict[float, float] = {}
    for labels, value in samples["wms_http_request_duration_seconds_bucket"]:
        le = float(labels["le"])
        buckets[le] = buckets.get(le, 0) + value
    bounds = sorted(buckets)
    rank = 0.95 * buckets[float("inf")]
    lower, below = 0.0, 0.0
    for bound in bounds:
        if buckets[bound] >= rank:
            return lower + (bound - lower) * (rank - below) / (buckets[bound] - below)
        lower, below = bound, buckets[bound]
    raise AssertionError("no bucket holds the rank")


@pytest.mark.parametrize(
    ("fault", "reading", "healthy", "faulty"),
    [
        ("slow", _p95_seconds, (0.0, 0.5), (2.0, 10.0)),
        ("db-connections-high", lambda s: one(s, "wms_db_connections_active"), (0, 80), (95, 200)),
        ("celery-backlog", lambda s: one(s, "wms_celery_queue_length"), (0, 100), (1000, 1e6)),
        ("high-cpu", lambda s: one(s, "wms_cpu_usage_percent"), (0, 70), (90, 100)),
        ("high-memory", lambda s: one(s, "wms_memory_usage_percent"), (0, 80), (95, 100)),
        ("disk-full", lambda s: one(s, "wms_disk_usage_percent"), (0, 80), (90, 100)),
        ("celery-down", lambda s: one(s, "wms_celery_workers_active"), (1, 10), (-1, 0)),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_each_metric_fault_moves_its_metric_past_the_seed_threshold(
    tmp_path: Path,
    fault: str,
    reading: Any,
    healthy: tuple[float, float],
    faulty: tuple[float, float],
) -> None:
    with demo(tmp_path) as served:
        value = reading(metrics(served))
        assert healthy[0] <= value < healthy[1]
        switch(served, fault)  # at once, without a restart
        value = reading(metrics(served))
        assert faulty[0] < value <= faulty[1]
        switch(served)
        assert healthy[0] <= reading(metrics(served)) < healthy[1]


def _totals(samples: dict[str, Any]) -> dict[str, float]:
    """The counters the error rates are made of, summed over their series."""
    tasks = samples["wms_celery_tasks_total"]
    return {
        "errors": sum(v for _, v in samples["wms_errors_total"]),
        "requests": sum(v for _, v in samples["wms_http_requests_total"]),
        "failed": sum(v for labels, v in tasks if labels["status"] == "failure"),
        "tasks": sum(v for _, v in tasks),
    }


@pytest.mark.parametrize(
    ("fault", "part", "whole", "healthy", "faulty"),
    [
        ("high-error-rate", "errors", "requests", (0.0, 1.0), (7.9, 8.1)),
        ("celery-failing", "failed", "tasks", (0.0, 2.0), (29.0, 31.0)),
    ],
)
def test_the_counters_are_honest_a_fault_adds_its_errors_from_when_it_started(
    tmp_path: Path,
    fault: str,
    part: str,
    whole: str,
    healthy: tuple[float, float],
    faulty: tuple[float, float],
) -> None:
    """Review item 3: the counters grow over time and a fault's errors are recent, so the
    ratio of the lifetime counters hides a new fault (as in production) and the ratio of
    their increase over the stretch the fault was on shows it."""
    clock = Clock()
    with demo(tmp_path, clock=clock) as served:
        clock.now += 3 * 3600  # three good hours
        start = _totals(metrics(served))
        assert healthy[0] <= 100 * start[part] / start[whole] < healthy[1]
        switch(served, fault)
        clock.now += 600  # ten minutes of the fault
        end = _totals(metrics(served))
        lifetime = 100 * end[part] / end[whole]
        recent = 100 * (end[part] - start[part]) / (end[whole] - start[whole])
        assert healthy[0] <= lifetime < 5.0  # diluted by the good hours
        assert faulty[0] <= recent <= faulty[1]  # the last ten minutes: the fault's share
        switch(served)
        clock.now += 600
        after = _totals(metrics(served))
        assert after[part] - end[part] < (end[part] - start[part]) / 5  # it stopped


def test_api_down_answers_503_everywhere(tmp_path: Path) -> None:
    with demo(tmp_path, "api-down") as served:
        assert get(served.url + "/health")[0] == 503
        assert get(served.url + "/metrics")[0] == 503
        assert get(served.url + "/api/v1/inventory/stock")[0] == 503
        switch(served)
        assert get(served.url + "/health")[0] == 200


def test_counters_grow_with_the_injected_clock(tmp_path: Path) -> None:
    clock = Clock()
    with demo(tmp_path, clock=clock) as served:
        before = sum(v for _, v in metrics(served)["wms_http_requests_total"])
        clock.now += 60
        after = sum(v for _, v in metrics(served)["wms_http_requests_total"])
    assert after - before == pytest.approx(60 * 20, abs=3)


def _rows(root: Path, sql: str) -> list[tuple[Any, ...]]:
    with closing(sqlite3.connect(root / "var" / "demo" / "wms.db")) as db:
        return db.execute(sql).fetchall()


def test_data_faults_change_the_rows_and_switch_back(tmp_path: Path) -> None:
    low = "SELECT COUNT(*) FROM wms_stock s JOIN wms_products p USING (product_id) WHERE s.quantity < p.reorder_level"
    soon = "SELECT COUNT(*) FROM wms_batches WHERE julianday(expiry_date) - julianday('2026-03-02') <= 30"
    stale = "SELECT COUNT(*) FROM wms_users WHERE is_active = 1 AND last_login < '2026-02-01'"
    with demo(tmp_path) as served:
        assert (_rows(tmp_path, low), _rows(tmp_path, soon), _rows(tmp_path, stale)) == (
            [(0,)],
            [(0,)],
            [(0,)],
        )
        switch(served, "low-stock", "expiring", "stale-accounts")
        get(served.url + "/health")  # the rows follow at the next request
        assert _rows(tmp_path, low) == [(len(LOW_STOCK),)]  # one of them out of stock
        assert _rows(tmp_path, soon) == [(2,)]
        assert _rows(tmp_path, stale) == [(1,)]
        samples = metrics(served)
        expiry = {s[0]["urgency"]: s[1] for s in samples["wms_inventory_expiry_warnings_total"]}
        assert expiry == {"critical": 1, "warning": 1}
        switch(served)
        get(served.url + "/health")
        assert (_rows(tmp_path, low), _rows(tmp_path, soon), _rows(tmp_path, stale)) == (
            [(0,)],
            [(0,)],
            [(0,)],
        )


def test_a_fault_given_at_start_is_in_the_rows_before_any_request(tmp_path: Path) -> None:
    with demo(tmp_path, "low-stock"):
        assert _rows(
            tmp_path, "SELECT quantity FROM wms_stock WHERE warehouse_id = 1 AND product_id = 4"
        ) == [(0,)]


def test_dated_logs_errors_only_today_under_high_error_rate(tmp_path: Path) -> None:
    logs = tmp_path / "var" / "demo" / "wms" / "logs"
    with demo(tmp_path) as served:
        today = logs / "backend-20260302.log"
        assert "ERROR" not in today.read_text()
        assert not (logs / "backend-20260121.log").exists()  # 40 days: 22 Jan to 2 Mar
        oldest = logs / "backend-20260122.log"
        assert oldest.stat().st_mtime < START - 30 * 86400  # for the 30-day clean-up
        switch(served, "high-error-rate")
        get(served.url + "/health")
        assert today.read_text().count('"level": "ERROR"') == 3
        assert "ERROR" not in (logs / "backend-20260301.log").read_text()


def test_stuck_queries_does_nothing_on_sqlite(tmp_path: Path) -> None:
    with demo(tmp_path, "stuck-queries") as served:
        assert get(served.url + "/health")[0] == 200


def test_demo_wms_is_built_on_first_use_like_the_order_demo(tmp_path: Path) -> None:
    path = tmp_path / "wms.db"
    assert ensure_demo("wms", path, datetime(2026, 3, 2, tzinfo=UTC)) is True
    assert ensure_demo("wms", path) is False
    assert (tmp_path / "wms" / "backups").is_dir()  # beside it: where wms-backup writes
    assert (tmp_path / "wms" / "logs" / "backend-20260302.log").is_file()
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("SELECT COUNT(*) FROM wms_stock").fetchone() == (24,)
        assert db.execute("SELECT MIN(expiry_date) FROM wms_batches").fetchone()[0] > "2026-04-15"


def test_runner_yaml_takes_demo_wms_on_sqlite_and_odbc(tmp_path: Path, capsys: Any) -> None:
    (tmp_path / "runner.yaml").write_text(
        "connections:\n"
        "  wms: {sqlite: var/demo/wms.db, demo: wms}\n"
        "  pg: {odbc: 'DRIVER={PostgreSQL Unicode};SERVER=127.0.0.1;DATABASE=wms', dialect: postgres, demo: wms}\n"
        "state: var/runner.db\n",
        encoding="utf-8",
    )
    config = load_config(tmp_path / "runner.yaml")
    assert config.connections["wms"].demo == "wms"
    assert config.connections["pg"].demo == "wms"
    (tmp_path / "runner.yaml").write_text(
        "connections:\n"
        "  pg: {odbc: 'DRIVER={PostgreSQL Unicode};SERVER=127.0.0.1', demo: orders}\n",
        encoding="utf-8",
    )
    with pytest.raises(Exception, match="demo"):
        load_config(tmp_path / "runner.yaml")


def test_faults_are_listed(capsys: Any) -> None:
    assert main(["demo", "faults"]) == 0
    out = capsys.readouterr().out
    assert "wms: Warehouse management system" in out and "127.0.0.1:8000" in out
    assert "--fault stuck-queries" in out


def test_a_database_it_cannot_reach_makes_health_503_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "runner.yaml").write_text(
        "connections:\n"
        "  wms: {odbc: 'DRIVER={PostgreSQL Unicode};SERVER=127.0.0.1;PORT=1;DATABASE=x;UID=x',"
        " dialect: postgres, demo: wms}\n"
        "state: var/runner.db\n",
        encoding="utf-8",
    )
    state = DemoState(
        tmp_path / "var" / "demo" / "wms",
        faults=["low-stock"],
        config=load_config(tmp_path / "runner.yaml"),
        clock=Clock(),
    )
    served = Served(WMS, state, "127.0.0.1", free_port())
    with serving([served]):
        status, body = get(served.url + "/health")
        assert status == 503
        assert json.loads(body)["database"] == "unreachable"
        samples = metrics(served)  # the rest of the metrics are still served
        assert one(samples, "wms_db_connections_active") == 12
        assert "wms_inventory_stock_total" not in samples


def test_demo_wms_on_an_odbc_server_that_is_not_postgresql_is_a_clear_error(
    tmp_path: Path,
) -> None:
    pyodbc = pytest.importorskip("pyodbc")
    if "SQLite3" not in pyodbc.drivers():
        pytest.skip("the SQLite3 ODBC driver is not installed (apt-get install libsqliteodbc)")
    from runner.base.errors import ConfigError
    from runner.databases.connections import Connections

    (tmp_path / "runner.yaml").write_text(
        "connections:\n"
        f"  wms: {{odbc: 'DRIVER={{SQLite3}};DATABASE={tmp_path / 'x.db'}', dialect: sqlite,"
        " demo: wms}\n",
        encoding="utf-8",
    )
    connections = Connections(load_config(tmp_path / "runner.yaml"))
    with pytest.raises(ConfigError) as raised:
        connections.get("wms")
    assert "cannot build demo 'wms' on connection 'wms' (defined at" in str(raised.value)
    assert str(raised.value).endswith("or on PostgreSQL through ODBC, not on sqlite through ODBC")
    connections.close_all()
