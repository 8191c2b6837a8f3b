"""The `prometheus` step: a number from a `/metrics` endpoint, or from a PromQL query
against a Prometheus server, as values for thresholds ("DB connections > 80/95").

    - id: errors
      prometheus:
        url: http://wms01:8000/metrics       # scrape an exposition ...
        metric: wms_errors_total             # a sample or family name
        labels: {service: api}               # only the series with these label values
        aggregate: sum                       # sum (default), avg, max, min or count
      thresholds:
        value: {warning: 1, critical: 5}
    - id: latency
      prometheus:
        url: http://wms01:8000/metrics
        metric: wms_http_request_duration_seconds
        quantile: 0.95                       # histogram_quantile over its _bucket series
    - id: pool
      prometheus:
        url: http://wms01:8000/metrics
        metrics:                             # several readings of one scrape
          db_connections: {metric: wms_db_connections_active}
          queue: {metric: wms_celery_queue_length, labels: {queue: default}, aggregate: max}
    - id: rate
      prometheus:
        server: http://prometheus:9090       # ... or ask a Prometheus server
        query: sum(rate(wms_errors_total[5m]))

Result: with `metric`, `value` (the number), `series` (how many series were read) and
`metric`; with `metrics`, each name's value and `series` (name -> how many series); with
`query`, `value`, `series` and `query` (a scalar is one series; several series are made
one by `aggregate`). A value that is not a number (NaN; a histogram without observations)
is null, which thresholds report as UNKNOWN. No series at all is a step error naming the
metric and labels, unless `default:` gives the value to use then (and for NaN).

Fetching is the http step's (runner/steps/http.py): the same sessions, masking and
classification of failures. An endpoint that cannot be reached, times out or answers
5xx or 429 is transient (retried under `retry:`); a 4xx, a refused query or a body that
is not an exposition is not. The selection and arithmetic are runner/steps/promselect.py.
A rehearsal reads (nothing changes), a dry run does not.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

from runner.base.durations import format_duration, parse_duration
from runner.base.errors import StepError, TransientError
from runner.base.masking import mask_mapping, mask_url
from runner.base.wording import short
from runner.language.model import Origin
from runner.language.nodes import freeze
from runner.language.steptypes import BuildScope, StepChecks
from runner.steps.base import StepType
from runner.steps.promselect import Missing, Reading, Selector, number
from runner.steps.promspec import DEFINITIONS, PrometheusConfig, meaning

if TYPE_CHECKING:
    import requests

    from runner.language.model import Step
    from runner.language.nodes import Node
    from runner.steps.context import StepContext

_EXPOSITION_ACCEPT = "text/plain;version=0.0.4;q=0.9,*/*;q=0.1"


class PrometheusStep(StepType):
    name = "prometheus"
    schema = {"prometheus": {"$ref": "#/$defs/prometheus"}}
    definitions = DEFINITIONS

    def __init__(self) -> None:
        self._local = threading.local()  # a session per thread, as the http step has

    # -- loading ------------------------------------------------------------------------

    def build(self, node: Node, scope: BuildScope) -> PrometheusConfig:
        prometheus = node.child("prometheus")
        origins: dict[str, Origin] = {}
        for key, child in prometheus.items():
            origins[str(key)] = child.origin
            if key == "metrics":
                for name, entry in child.items():
                    origins[f"metrics.{name}"] = entry.origin
                    for inner, value in entry.items():
                        origins[f"metrics.{name}.{inner}"] = value.origin
        return PrometheusConfig(freeze(prometheus.value), prometheus.origin, freeze(origins))

    def check(self, config: PrometheusConfig, checks: StepChecks) -> None:
        if not isinstance(config.spec, Mapping):
            return  # the schema says what it should be
        for problem in meaning(config.spec, rendered=False):
            origin = config.origins.get(problem.key)
            if origin is None:  # the mapping itself
                checks.add(config.origin, problem.message, problem.hint)
            else:
                checks.add(origin, problem.message, problem.hint, at=problem.at)

    # -- running ------------------------------------------------------------------------

    def run(self, step: Step, ctx: StepContext) -> dict[str, Any]:
        plan = _Plan(ctx.render(step.config.spec), ctx.timeout)
        if ctx.mode == "dry-run":
            return {"skipped": True, "reason": "dry-run: nothing is scraped or queried"}
        ctx.log(f"GET {mask_url(plan.request.url)}")
        return plan.read(self._session())

    def describe(self, step: Step, ctx: StepContext) -> dict[str, Any]:
        return _Plan(ctx.render(step.config.spec), ctx.timeout).describe()

    def summary(self, values: Mapping[str, Any]) -> str | None:
        series = values.get("series")
        if isinstance(series, Mapping):  # metrics: one value per name
            named = [f"{name} = {short(values.get(name))}" for name in series]
            return ", ".join(named) or None
        if "value" not in values or not isinstance(series, int):
            return None
        what = values.get("metric") or short(values.get("query"), 40)
        if values.get("quantile") is not None:
            what = f"{what} p{float(values['quantile']) * 100:g}"
        return f"{what} = {short(values['value'])} ({series} series)"

    def rendered_summary(self, rendered: Mapping[str, Any], mode: str) -> str | None:
        if "query" in rendered and "server" in rendered:
            return f"would query {rendered['server']}: {short(rendered['query'], 60)}"
        if "url" not in rendered:
            return None
        if "metrics" in rendered:
            return f"would read {', '.join(rendered['metrics'])} from {rendered['url']}"
        if "metric" in rendered:
            return f"would read {rendered['metric']} from {rendered['url']}"
        return None

    def _session(self) -> requests.Session:
        from runner.steps.http import new_session

        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = new_session()
        return session


class _Plan:
    """A rendered, checked `prometheus:` mapping: what to fetch and what to read from it."""

    def __init__(self, spec: Any, step_timeout: float) -> None:
        from runner.steps.http import Request

        if not isinstance(spec, Mapping):
            raise StepError("prometheus needs a mapping such as {url: ..., metric: ...}")
        for key, message, hint, _ in meaning(spec, rendered=True):
            where = f"prometheus {key}: " if key else ""
            raise StepError(f"{where}{message}" + (f" ({hint})" if hint else ""))
        self.server = spec.get("server")
        self.query = spec.get("query")
        self.aggregate = spec.get("aggregate")
        self.default = spec.get("default")
        headers = dict(spec.get("headers") or {})
        accept = "application/json" if self.server else _EXPOSITION_ACCEPT
        if not any(str(name).lower() == "accept" for name in headers):
            headers["Accept"] = accept
        timeout = spec.get("timeout")
        if timeout is not None:
            try:
                timeout = parse_duration(timeout)
            except ValueError as error:
                raise StepError(f"prometheus timeout: {error}") from None
        verify = spec.get("verify", True)
        if not isinstance(verify, bool | str):
            raise StepError("prometheus verify must be true, false or the path of a CA bundle")
        request: dict[str, Any] = {"headers": headers, "timeout": timeout, "verify": verify}
        if self.server:
            request["url"] = str(self.server).strip().rstrip("/") + "/api/v1/query"
            request["params"] = {"query": self.query}
        else:
            request["url"] = str(spec["url"]).strip()
        self.request = Request(request, step_timeout)
        self.readings: dict[str | None, tuple[Selector, Any]] = {}
        if "metrics" in spec and spec["metrics"] is not None:
            for name, entry in spec["metrics"].items():
                self.readings[str(name)] = (_selector(entry), entry.get("default"))
        elif not self.server:
            self.readings[None] = (_selector(spec), self.default)

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.server:
            out.update(server=mask_url(self.server), query=self.query)
            if self.aggregate:
                out["aggregate"] = self.aggregate
        else:
            out["url"] = mask_url(self.request.url)
            for name, (selector, default) in self.readings.items():
                shown = {"metric": selector.metric, **_shown(selector, default)}
                if name is None:
                    out.update(shown)
                else:
                    out.setdefault("metrics", {})[name] = shown
        headers = {k: v for k, v in self.request.headers.items() if k != "Accept"}
        if headers:
            out["headers"] = mask_mapping(headers)
        out["timeout"] = format_duration(self.request.timeout)
        if self.request.verify is not True:
            out["verify"] = self.request.verify
        return out

    def read(self, session: requests.Session) -> dict[str, Any]:
        from runner.steps import promselect

        text = self._fetch(session)
        if self.server:
            reading = _defaulted(lambda: self._answer(text), self.default)
            return {"query": self.query, "value": reading.value, "series": reading.series}
        where = mask_url(self.request.url)
        families = promselect.parse_exposition(text, where)
        readings = {
            name: _defaulted(partial(promselect.select, families, selector, where), default)
            for name, (selector, default) in self.readings.items()
        }
        if None in readings:
            selector = self.readings[None][0]
            values = {"metric": selector.metric, **readings[None]._asdict()}
            if selector.quantile is not None:
                values["quantile"] = selector.quantile
            return values
        out: dict[str, Any] = {str(name): reading.value for name, reading in readings.items()}
        out["series"] = {str(name): reading.series for name, reading in readings.items()}
        return out

    def _answer(self, text: str) -> Reading:
        import json

        from runner.steps.promselect import query_reading

        try:
            answer = json.loads(text)
        except ValueError:
            answer = None
        if not isinstance(answer, Mapping):
            raise StepError(f"{self._where()} did not answer JSON: is it a Prometheus server?")
        return query_reading(answer.get("data"), self.aggregate, str(self.query))

    def _fetch(self, session: requests.Session) -> str:
        from runner.steps.http import MAX_BODY, reason

        response, body, complete, _ = self.request.fetch(session)
        status = response.status_code
        if status >= 500 or status == 429:
            raise TransientError(f"HTTP {status} {reason(response)} from {self._where()}")
        text = body.decode("utf-8", errors="replace")  # what expositions and the API send
        if self.server and status in (400, 422):  # a query Prometheus refuses: its words
            raise StepError(f"Prometheus refused the query {self.query}: {_api_error(text)}")
        if status >= 300:
            hint = " (is it the server's base URL?)" if self.server else ""
            raise StepError(f"HTTP {status} {reason(response)} from {self._where()}{hint}")
        if not complete:
            raise StepError(f"{self._where()} answered more than {MAX_BODY // 2**20} MB")
        return text

    def _where(self) -> str:
        return mask_url(self.server if self.server else self.request.url)


def _defaulted(read: Callable[[], Reading], default: Any) -> Reading:
    """`read()`, with `default` for the value when no series matched or it is NaN."""
    try:
        reading = read()
    except Missing:
        if default is None:
            raise
        reading = Reading(None, 0)
    if reading.value is None and default is not None:
        reading = Reading(number(float(default)), reading.series)
    return reading


def _selector(spec: Mapping[str, Any]) -> Selector:
    labels = {str(k): _label_value(v) for k, v in (spec.get("labels") or {}).items()}
    quantile = spec.get("quantile")
    return Selector(
        str(spec["metric"]),
        labels,
        spec.get("aggregate"),
        float(quantile) if quantile is not None else None,
    )


def _label_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _shown(selector: Selector, default: Any) -> dict[str, Any]:
    shown: dict[str, Any] = {}
    if selector.labels:
        shown["labels"] = dict(selector.labels)
    if selector.aggregate:
        shown["aggregate"] = selector.aggregate
    if selector.quantile is not None:
        shown["quantile"] = selector.quantile
    if default is not None:
        shown["default"] = default
    return shown


def _api_error(text: str) -> str:
    import json

    try:
        answer = json.loads(text)
        return f"{answer.get('errorType', 'error')}: {answer['error']}"
    except (ValueError, KeyError, TypeError, AttributeError):
        return short(text, 200) or "no reason given"
