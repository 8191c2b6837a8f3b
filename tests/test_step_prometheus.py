"""The prometheus step against a real prometheus_client exposition served over HTTP on
127.0.0.1, and (integration) a real Prometheus server scraping it and answering PromQL."""

from __future__ import annotations

import json
import math
import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import suppress
from time import sleep
from typing import Any
from urllib.parse import urlencode
from urllib.request import urlopen
from wsgiref.simple_server import WSGIRequestHandler

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer
from test_output_schema import check

from runner.base.errors import StepError, TransientError
from runner.cli import main
from runner.language.build import build_step
from runner.language.model import Step
from runner.reports.summary import rendered_summary, value_summary
from runner.steps import STEP_TYPES, executor
from runner.steps.context import StepContext
from runner.steps.prometheus import PrometheusStep
from runner.steps.promselect import Missing, histogram_quantile, parse_exposition, query_reading

# -- the exposition: counters, gauges with labels, histograms ------------------------------


def _registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    errors = Counter("wms_errors", "Errors", ["service", "code"], registry=registry)
    errors.labels("api", "E1").inc(2)
    errors.labels("api", "E2").inc(1)
    errors.labels("worker", "E1").inc(4)  # sum 7, avg 7/3, max 4, min 1, count 3
    Gauge("wms_db_connections_active", "Connections", registry=registry).set(42)
    queue = Gauge("wms_celery_queue_length", "Queued tasks", ["queue"], registry=registry)
    queue.labels("default").set(5)
    queue.labels("priority").set(12)
    Gauge("wms_idle_ratio", "Not known yet", registry=registry).set(math.nan)
    latency = Histogram(
        "wms_http_request_duration_seconds",
        "Request latency",
        ["service"],
        buckets=(0.1, 0.5, 1, 2.5),
        registry=registry,
    )
    for value, times in ((0.05, 6), (0.3, 3), (0.8, 1)):  # api: 6, 9, 10, 10, 10 cumulative
        for _ in range(times):
            latency.labels("api").observe(value)
    for value, times in ((0.05, 8), (2, 2)):  # web: 8, 8, 8, 10, 10
        for _ in range(times):
            latency.labels("web").observe(value)
    Histogram("wms_empty_seconds", "Never observed", registry=registry)
    return registry


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class Exposition:
    """A WSGI server on 127.0.0.1: /metrics (prometheus_client's own app), /flaky (503 for
    the first `failures` requests), /private (401 without the token), /gone (404), /page
    (HTML, not an exposition)."""

    TOKEN = "tok-Ocelot4471"

    def __init__(self) -> None:
        self.metrics = make_wsgi_app(_registry())
        self.failures = 0
        self.requests: list[dict[str, str]] = []
        self.httpd = ThreadingWSGIServer(("127.0.0.1", 0), _Quiet)
        self.httpd.set_app(self.app)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def app(self, environ: dict[str, Any], start: Callable[..., Any]) -> list[bytes]:
        path = environ["PATH_INFO"]
        self.requests.append({"path": path, "auth": environ.get("HTTP_AUTHORIZATION", "")})
        if path == "/flaky" and self.failures > 0:
            self.failures -= 1
            start("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"starting"]
        if path == "/private" and environ.get("HTTP_AUTHORIZATION") != f"Bearer {self.TOKEN}":
            start("401 Unauthorized", [("Content-Type", "text/plain")])
            return [b"who are you"]
        if path in ("/metrics", "/flaky", "/private"):
            environ = {**environ, "PATH_INFO": "/metrics"}
            return list(self.metrics(environ, start))
        if path == "/page":
            start("200 OK", [("Content-Type", "text/html")])
            return [b"<html><body>Welcome</body></html>\n"]
        start("404 Not Found", [("Content-Type", "text/plain")])
        return [b"no such page"]


@pytest.fixture(scope="module")
def exposition() -> Iterator[Exposition]:
    served = Exposition()
    thread = threading.Thread(target=served.httpd.serve_forever, daemon=True)
    thread.start()
    yield served
    served.httpd.shutdown()
    served.httpd.server_close()


@pytest.fixture
def metrics(exposition: Exposition) -> str:
    exposition.failures = 0
    return f"{exposition.url}/metrics"


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def step(**prometheus: Any) -> Step:
    return build_step({"id": "m", "prometheus": prometheus}, STEP_TYPES)


def run(config: Step, mode: str = "run", **scope: Any) -> dict[str, Any]:
    return PrometheusStep().run(config, StepContext(scope=scope, timeout=10.0, mode=mode))


def read(url: str, **selector: Any) -> dict[str, Any]:
    return run(step(url=url, **selector))


def test_registered_under_its_name() -> None:
    assert isinstance(executor("prometheus"), PrometheusStep)


# -- reading an exposition ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("aggregate", "expected"),
    [(None, 7), ("sum", 7), ("avg", 7 / 3), ("max", 4), ("min", 1), ("count", 3)],
    ids=["default-sum", "sum", "avg", "max", "min", "count"],
)
def test_each_aggregate_over_a_counters_series(
    metrics: str, aggregate: str | None, expected: float
) -> None:
    selector = {"metric": "wms_errors_total"}
    if aggregate:
        selector["aggregate"] = aggregate
    values = read(metrics, **selector)
    assert values == {"metric": "wms_errors_total", "value": pytest.approx(expected), "series": 3}


def test_a_counter_is_found_by_its_family_name_too(metrics: str) -> None:
    assert read(metrics, metric="wms_errors")["value"] == 7


def test_a_whole_number_is_an_int_and_a_gauge_reads_as_it_is(metrics: str) -> None:
    values = read(metrics, metric="wms_db_connections_active")
    assert values == {"metric": "wms_db_connections_active", "value": 42, "series": 1}
    assert isinstance(values["value"], int)


@pytest.mark.parametrize(
    ("labels", "value", "series"),
    [
        ({"service": "api"}, 3, 2),
        ({"service": "api", "code": "E2"}, 1, 1),
        ({"code": "E1"}, 6, 2),
    ],
    ids=["one-label", "two-labels", "other-label"],
)
def test_labels_keep_only_the_series_with_those_values(
    metrics: str, labels: dict[str, str], value: int, series: int
) -> None:
    values = read(metrics, metric="wms_errors_total", labels=labels)
    assert (values["value"], values["series"]) == (value, series)


def test_label_values_are_templates(metrics: str) -> None:
    config = step(
        url="{{ inputs.base }}/metrics",
        metric="wms_celery_queue_length",
        labels={"queue": "{{ inputs.queue }}"},
    )
    base = metrics.removesuffix("/metrics")
    assert run(config, inputs={"base": base, "queue": "priority"})["value"] == 12


@pytest.mark.parametrize(
    ("labels", "quantile", "expected", "series"),
    [
        # api alone, cumulative 6, 9, 10, 10, 10: rank 9.5 lies in (0.5, 1]: 0.5 + 0.5 * 0.5/1
        ({"service": "api"}, 0.95, 0.75, 1),
        # both summed, 14, 17, 18, 20, 20: rank 19 lies in (1, 2.5]: 1 + 1.5 * 1/2
        ({}, 0.95, 1.75, 2),
        # rank 10 lies in (0, 0.1], which holds 14: 0.1 * 10/14
        ({}, 0.5, 0.1 * 10 / 14, 2),
    ],
    ids=["api-p95", "all-p95", "all-p50"],
)
def test_quantile_of_a_histogram_as_histogram_quantile_computes_it(
    metrics: str, labels: dict[str, str], quantile: float, expected: float, series: int
) -> None:
    values = read(
        metrics, metric="wms_http_request_duration_seconds", labels=labels, quantile=quantile
    )
    assert values["value"] == pytest.approx(expected)
    assert (values["series"], values["quantile"]) == (series, quantile)


def test_histogram_quantile_follows_prometheus_at_the_edges() -> None:
    inf = math.inf
    # the rank falls in the +Inf bucket: the highest finite bound, as Prometheus answers
    assert histogram_quantile(0.99, [(1.0, 1), (2.0, 2), (inf, 10)]) == 2.0
    assert math.isnan(histogram_quantile(0.5, [(1.0, 0), (inf, 0)]))  # no observations
    with pytest.raises(StepError, match=r"no \+Inf bucket"):
        histogram_quantile(0.5, [(1.0, 1), (2.0, 2)])


def test_a_histogram_read_without_quantile_says_how_to_read_it(metrics: str) -> None:
    with pytest.raises(StepError) as caught:
        read(metrics, metric="wms_http_request_duration_seconds")
    assert str(caught.value) == (
        "wms_http_request_duration_seconds is a histogram: give quantile: (such as 0.95), or "
        "read wms_http_request_duration_seconds_count or wms_http_request_duration_seconds_sum"
    )
    counted = read(metrics, metric="wms_http_request_duration_seconds_count")
    assert (counted["value"], counted["series"]) == (20, 2)


def test_a_missing_metric_is_an_error_naming_it(metrics: str) -> None:
    with pytest.raises(Missing) as caught:
        read(metrics, metric="wms_error_total")
    assert str(caught.value) == (
        f"{metrics} has no metric wms_error_total (did you mean 'wms_errors_total'?)"
    )
    assert not caught.value.transient


def test_labels_that_match_no_series_are_an_error_naming_them_and_what_there_is(
    metrics: str,
) -> None:
    with pytest.raises(Missing) as caught:
        read(metrics, metric="wms_errors_total", labels={"service": "billing"})
    assert str(caught.value) == (
        f'no series of wms_errors_total at {metrics} has {{service="billing"}} '
        "(3 series; label values seen: service: api, worker)"
    )


def test_default_stands_in_when_nothing_matches(metrics: str) -> None:
    values = read(metrics, metric="wms_errors_total", labels={"service": "x"}, default=0)
    assert (values["value"], values["series"]) == (0, 0)
    assert read(metrics, metric="wms_gone", default=1.5)["value"] == 1.5


def test_nan_is_null_unless_a_default_is_given(metrics: str) -> None:
    assert read(metrics, metric="wms_idle_ratio") == {
        "metric": "wms_idle_ratio",
        "value": None,
        "series": 1,
    }
    assert read(metrics, metric="wms_idle_ratio", default=0)["value"] == 0
    empty = read(metrics, metric="wms_empty_seconds", quantile=0.9)
    assert (empty["value"], empty["series"]) == (None, 1)  # no observations yet


def test_several_readings_of_one_scrape(metrics: str, exposition: Exposition) -> None:
    before = len(exposition.requests)
    values = read(
        metrics,
        metrics={
            "db_connections": {"metric": "wms_db_connections_active"},
            "queue": {"metric": "wms_celery_queue_length", "aggregate": "max"},
            "default_queue": {"metric": "wms_celery_queue_length", "labels": {"queue": "default"}},
            "p95": {"metric": "wms_http_request_duration_seconds", "quantile": 0.95},
            "absent": {"metric": "wms_nothing", "default": 0},
        },
    )
    assert values == {
        "db_connections": 42,
        "queue": 12,
        "default_queue": 5,
        "p95": pytest.approx(1.75),
        "absent": 0,
        "series": {"db_connections": 1, "queue": 2, "default_queue": 1, "p95": 2, "absent": 0},
    }
    assert len(exposition.requests) == before + 1


# -- failures: what is retried and what is not ------------------------------------------------


def test_5xx_is_transient(exposition: Exposition) -> None:
    exposition.failures = 1
    with pytest.raises(TransientError) as caught:
        read(f"{exposition.url}/flaky", metric="wms_errors_total")
    assert str(caught.value) == f"HTTP 503 Service Unavailable from {exposition.url}/flaky"


def test_connection_refused_is_transient(closed_port: int) -> None:
    with pytest.raises(TransientError, match="connection refused"):
        read(f"http://127.0.0.1:{closed_port}/metrics", metric="x")


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/gone", "HTTP 404 Not Found from {url}/gone"),
        ("/private", "HTTP 401 Unauthorized from {url}/private"),
        ("/page", "{url}/page did not answer a Prometheus exposition: invalid metric name:"),
    ],
    ids=["404", "401", "not-an-exposition"],
)
def test_what_another_attempt_cannot_change_is_final(
    exposition: Exposition, path: str, message: str
) -> None:
    with pytest.raises(StepError) as caught:
        read(f"{exposition.url}{path}", metric="wms_errors_total")
    assert str(caught.value).startswith(message.format(url=exposition.url))
    assert not caught.value.transient


def test_a_parse_error_shows_at_most_200_characters_of_the_body() -> None:
    # A one-line JSON answer of 300 KB: the parser's message quotes the line whole.
    body = '{"a": "' + "x" * 300_000 + '"}'
    with pytest.raises(StepError) as caught:
        parse_exposition(body, "http://h/metrics")
    message = str(caught.value)
    prefix = 'http://h/metrics did not answer a Prometheus exposition: Invalid labels: "a": "xxx'
    assert message.startswith(prefix)
    assert message.endswith(" more characters)") and len(message) < 320, len(message)


def test_headers_are_sent_and_masked_when_shown(exposition: Exposition) -> None:
    config = step(
        url=f"{exposition.url}/private",
        metric="wms_db_connections_active",
        headers={"Authorization": "Bearer {{ env.WMS_TOKEN }}"},
        timeout="3s",
    )
    scope = {"env": {"WMS_TOKEN": Exposition.TOKEN}}
    assert run(config, **scope)["value"] == 42
    assert exposition.requests[-1]["auth"] == f"Bearer {Exposition.TOKEN}"
    shown = PrometheusStep().describe(config, StepContext(scope=scope, timeout=60.0))
    assert shown == {
        "url": f"{exposition.url}/private",
        "metric": "wms_db_connections_active",
        "headers": {"Authorization": "***"},
        "timeout": "3s",
    }
    assert Exposition.TOKEN not in json.dumps(shown)


def test_dry_run_reads_nothing(closed_port: int) -> None:
    values = run(step(url=f"http://127.0.0.1:{closed_port}/metrics", metric="x"), mode="dry-run")
    assert values == {"skipped": True, "reason": "dry-run: nothing is scraped or queried"}


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"url": "{{ inputs.url }}", "metric": "x"}, "prometheus url: 'ftp://h/m' is not an http"),
        ({"url": "http://h/m", "metric": "{{ inputs.name }}"}, "'a-b' is not a Prometheus metric"),
        (
            {"url": "http://h/m", "metric": "x", "quantile": "{{ inputs.q }}"},
            "prometheus quantile: quantile '1.5' is not between 0 and 1",
        ),
    ],
    ids=["url", "metric", "quantile"],
)
def test_what_a_template_renders_to_is_checked_again(config: dict[str, Any], message: str) -> None:
    inputs = {"url": "ftp://h/m", "name": "a-b", "q": "1.5"}
    with pytest.raises(StepError, match=message):
        run(step(**config), inputs=inputs)


# -- the answer of a PromQL query (the shapes Prometheus's /api/v1/query gives) ------------


def test_query_answers_scalar_vector_and_the_ones_that_are_not_a_number() -> None:
    assert query_reading({"resultType": "scalar", "result": [1.7e9, "2.5"]}, None, "q") == (
        2.5,
        1,
    )
    vector = {
        "resultType": "vector",
        "result": [{"metric": {"a": "1"}, "value": [1.7e9, "3"]}, {"value": [1.7e9, "4"]}],
    }
    assert query_reading(vector, None, "q") == (7, 2)
    assert query_reading(vector, "max", "q") == (4, 2)
    with pytest.raises(Missing, match="the query up == 2 returned no series"):
        query_reading({"resultType": "vector", "result": []}, None, "up == 2")
    with pytest.raises(StepError, match="returned a range vector"):
        query_reading({"resultType": "matrix", "result": []}, None, "up[5m]")


# -- through a runbook ----------------------------------------------------------------------


def test_thresholds_fire_in_a_runbook_run(project, metrics: str, capsys) -> None:
    project.runbook(
        "wms",
        f"""
        runbook: wms
        kind: health-check
        steps:
          - id: errors
            prometheus: {{url: "{metrics}", metric: wms_errors_total}}
            thresholds:
              value: {{warning: 1, critical: 5}}
          - id: latency
            prometheus:
              url: "{metrics}"
              metric: wms_http_request_duration_seconds
              labels: {{service: api}}
              quantile: 0.95
            thresholds:
              value: {{warning: 0.5, critical: 2}}
          - id: pool
            prometheus:
              url: "{metrics}"
              metrics:
                db_connections: {{metric: wms_db_connections_active}}
                queue: {{metric: wms_celery_queue_length, labels: {{queue: default}}}}
            thresholds:
              db_connections: {{warning: 80, critical: 95}}
              queue: {{warning: 10}}
          - id: gone
            prometheus: {{url: "{metrics}", metric: wms_shipments}}
        """,
    )
    result = project.run("wms")
    statuses = {s.id: str(s.status) for s in result.steps}
    assert statuses == {
        "errors": "CRITICAL",
        "latency": "WARNING",
        "pool": "OK",
        "gone": "CRITICAL",
    }
    errors, latency, pool, gone = result.steps
    assert errors.evaluations[0].text == "value = 7 > critical 5"
    assert value_summary(errors) == "wms_errors_total = 7 (3 series)"
    assert latency.evaluations[0].text == "value = 0.75 > warning 0.5"
    assert value_summary(latency) == "wms_http_request_duration_seconds p95 = 0.75 (1 series)"
    assert value_summary(pool) == "db_connections = 42, queue = 5"
    assert [e.text for e in pool.evaluations] == [
        "db_connections = 42 <= warning 80",
        "queue = 5 <= warning 10",
    ]
    assert (gone.outcome, gone.error) == ("failed", f"{metrics} has no metric wms_shipments")
    assert len(gone.attempts) == 1  # not retried
    # the JSON of the run is what schemas/run-result.schema.json says
    code = main(["run", "wms", "--format", "json"])
    document = json.loads(capsys.readouterr().out)
    assert code == 2 and document["steps"][2]["values"]["series"] == {
        "db_connections": 1,
        "queue": 1,
    }
    check(document, "run")
    dry = project.run("wms", mode="dry-run")
    assert (
        rendered_summary(dry.steps[0], "dry-run") == f"would read wms_errors_total from {metrics}"
    )
    assert rendered_summary(dry.steps[2], "dry-run") == (
        f"would read db_connections, queue from {metrics}"
    )


def test_a_5xx_is_retried_under_the_steps_retry(project, exposition: Exposition) -> None:
    project.runbook(
        "flaky",
        f"""
        runbook: flaky
        steps:
          - id: errors
            prometheus: {{url: "{exposition.url}/flaky", metric: wms_errors_total}}
            retry: {{attempts: 3, delay: 1s}}
            thresholds:
              value: {{critical: 100}}
        """,
    )
    exposition.failures = 2
    done = project.run("flaky").steps[0]
    assert (str(done.status), done.values["value"]) == ("OK", 7)
    assert [a.outcome for a in done.attempts] == ["failed", "failed", "ok"]
    assert all(a.transient for a in done.attempts[:2])
    exposition.failures = 5
    failed = project.run("flaky").steps[0]
    assert (str(failed.status), len(failed.attempts)) == ("CRITICAL", 3)
    assert failed.error == (
        f"HTTP 503 Service Unavailable from {exposition.url}/flaky (after 3 attempts)"
    )
    exposition.failures = 0


def test_validate_refuses_what_cannot_work_with_line_and_key(project) -> None:
    project.runbook(
        "bad",
        """
        runbook: bad
        steps:
          - prometheus: {url: "wms01:8000/metrics", metric: wms_errors_total}
          - prometheus: {url: "http://h/metrics", server: "http://p:9090", query: up}
          - prometheus: {server: "http://p:9090", metric: up}
          - prometheus:
              url: http://h/metrics
              metric: wms_http_request_duration_seconds
              aggregate: max
              quantile: 0.95
          - prometheus: {url: http://h/metrics, metric: x, aggregate: median}
          - prometheus: {url: http://h/metrics, metric: x, quantile: 95}
          - prometheus: {url: http://h/metrics, query: "sum(up)"}
          - prometheus: {url: http://h/metrics, metrics: {series: {metric: x}}}
          - prometheus: {url: http://h/metrics, metric: x, quantile: 0}
          - prometheus: {url: http://h/metrics, metric: x, quantile: 1}
        """,
    )
    found = project.library().problems(project.root / "runbooks" / "bad.yaml")
    assert [p.format() for p in sorted(found, key=lambda p: (p.line, p.col))] == [
        "runbooks/bad.yaml:3:23: error: steps[0].prometheus.url: 'wms01:8000/metrics' is not an http(s) URL (write it as http://wms01:8000/metrics)",
        "runbooks/bad.yaml:4:43: error: steps[1].prometheus.server: prometheus takes url or server, not both (url: http://host:port/metrics with metric:, or server: http://prometheus:9090 with query:)",
        "runbooks/bad.yaml:5:18: error: steps[2].prometheus.server: a Prometheus server needs query:, the PromQL to evaluate (such as query: sum(rate(wms_errors_total[5m])))",
        'runbooks/bad.yaml:5:43: error: steps[2].prometheus.metric: metric reads a /metrics endpoint (url:), not a server (write the selection in the PromQL query, such as sum(wms_errors_total{service="api"}))',
        "runbooks/bad.yaml:10:7: error: steps[3].prometheus.quantile: quantile reads a histogram's buckets and takes no aggregate (leave out aggregate: the buckets of the series matched are summed per le)",
        "runbooks/bad.yaml:11:63: error: steps[4].prometheus.aggregate: 'median' is not one of: sum, avg, max, min, count",
        "runbooks/bad.yaml:12:62: error: steps[5].prometheus.quantile: 95 is too large: it must be below 1",
        "runbooks/bad.yaml:13:18: error: steps[6].prometheus.url: reading a /metrics endpoint needs metric: (or metrics:) (such as metric: wms_errors_total)",
        "runbooks/bad.yaml:13:41: error: steps[6].prometheus.query: query is PromQL for a Prometheus server (server:) (to scrape the endpoint, name the metric with metric:)",
        "runbooks/bad.yaml:14:51: error: steps[7].prometheus.metrics.series: the name series is taken: the result's series holds each name's count (give the reading another name)",
        "runbooks/bad.yaml:15:62: error: steps[8].prometheus.quantile: 0 is too small: it must be above 0",
        "runbooks/bad.yaml:16:62: error: steps[9].prometheus.quantile: 1 is too large: it must be below 1",
    ]


# -- a real Prometheus scrapes the exposition and answers PromQL ----------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def prometheus(exposition: Exposition, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Debian's prometheus on a free port, scraping the exposition every second; its URL
    once it has scraped it."""
    binary = shutil.which("prometheus")
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("prometheus is missing: scripts/test installs Debian's prometheus")
        pytest.skip("prometheus is not installed (apt-get install prometheus)")
    folder = tmp_path_factory.mktemp("prometheus")
    target = exposition.url.removeprefix("http://")
    (folder / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        f"  - job_name: wms\n    static_configs: [{{targets: ['{target}']}}]\n",
        encoding="utf-8",
    )
    url = f"http://127.0.0.1:{_free_port()}"
    log = folder / "prometheus.log"
    server = subprocess.Popen(
        [
            binary,
            f"--config.file={folder / 'prometheus.yml'}",
            f"--storage.tsdb.path={folder / 'tsdb'}",
            f"--web.listen-address={url.removeprefix('http://')}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )
    try:
        scraped: list[Any] = []
        query = urlencode({"query": 'up{job="wms"} == 1 and on() wms_errors_total'})
        for _ in range(600):  # a bound on a loaded machine, not an assertion on time
            with suppress(OSError, ValueError), urlopen(f"{url}/api/v1/query?{query}") as answer:
                scraped = json.load(answer)["data"]["result"]
            if scraped or server.poll() is not None:
                break
            sleep(0.1)
        text = log.read_text(encoding="utf-8", errors="replace")
        assert scraped, f"Prometheus never scraped the exposition: {text[-2000:]}"
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.integration
def test_a_real_prometheus_answers_queries(prometheus: str) -> None:
    def query(text: str, **more: Any) -> dict[str, Any]:
        return run(step(server=prometheus, query=text, **more))

    assert query("sum(wms_errors_total)") == {
        "query": "sum(wms_errors_total)",
        "value": 7,
        "series": 1,
    }
    assert query('wms_errors_total{job="wms"}')["value"] == 7
    assert query("wms_errors_total", aggregate="max")["value"] == 4
    assert query("wms_errors_total", aggregate="count") == {
        "query": "wms_errors_total",
        "value": 3,
        "series": 3,
    }
    assert query("scalar(wms_db_connections_active)")["value"] == 42
    quantile = "histogram_quantile(0.95, sum by (le) (wms_http_request_duration_seconds_bucket))"
    assert query(quantile)["value"] == pytest.approx(1.75)  # what the /metrics reading gives
    assert query('wms_errors_total{service="billing"}', default=0)["value"] == 0
    with pytest.raises(Missing, match=r"returned no series"):
        query('wms_errors_total{service="billing"}')
    with pytest.raises(StepError) as caught:
        query("sum(wms_errors_total")
    assert str(caught.value).startswith(
        "Prometheus refused the query sum(wms_errors_total: bad_data: "
    )
    assert not caught.value.transient


@pytest.mark.integration
def test_a_runbook_reads_a_query_against_a_real_prometheus(project, prometheus: str) -> None:
    project.runbook(
        "rate",
        f"""
        runbook: rate
        steps:
          - id: errors
            prometheus:
              server: "{prometheus}"
              query: 'sum(wms_errors_total{{service="{{{{ inputs.service }}}}"}})'
            thresholds:
              value: {{warning: 3.5, critical: 5}}
        inputs:
          service: {{type: string, default: api}}
        """,
    )
    api = project.run("rate").steps[0]
    assert (str(api.status), api.values["value"]) == ("OK", 3)
    assert value_summary(api) == 'sum(wms_errors_total{service="api"}) = 3 (1 series)'
    worker = project.run("rate", {"service": "worker"}).steps[0]
    assert (str(worker.status), worker.values["value"]) == ("WARNING", 4)
    assert worker.evaluations[0].text == "value = 4 > warning 3.5"
