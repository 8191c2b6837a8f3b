"""The shape of a `prometheus:` mapping (runner/steps/prometheus.py): its JSON Schema,
its typed config, and its checks of meaning, which run on the mapping as written (at
validation, where the schema has checked the types) and again once rendered (at run
time, where a template may have given any value).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

from runner.base.masking import mask_url
from runner.language.model import Origin
from runner.language.nodes import freeze
from runner.language.steptypes import StepConfig
from runner.language.templates import is_template
from runner.steps.promselect import AGGREGATES


class Problem(NamedTuple):
    """What is wrong at a key such as "url" or "metrics.queue.quantile" ("" for the mapping
    itself), how to write it instead, and whether it is about the key (how the keys fit
    together) or its value."""

    key: str
    message: str
    hint: str | None = None
    at: str = "key"


METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
LABEL_NAME = r"^[a-zA-Z_][a-zA-Z0-9_]*$"
RESULT_NAME = r"^[A-Za-z_][A-Za-z0-9_]*$"


class PrometheusConfig(StepConfig, frozen=True):
    """The `prometheus:` mapping as written (read-only, templates unrendered), with where
    its keys are for the checks of meaning."""

    spec: Any  # a read-only mapping (anything else the schema refused)
    origin: Origin
    #: "url", "metrics.queue", "metrics.queue.quantile", ... -> where that value is
    origins: Mapping[str, Origin] = freeze({})

    @property
    def target(self) -> str | None:
        spec = self.spec if isinstance(self.spec, Mapping) else {}
        found = spec.get("metric") or spec.get("query") or spec.get("metrics")
        if isinstance(found, Mapping):
            return ", ".join(map(str, found))
        return found if isinstance(found, str) else None


SELECTOR_PROPERTIES: dict[str, Any] = {
    "metric": {
        "type": "string",
        "minLength": 1,
        "description": "The metric: a sample name (wms_errors_total, x_count) or a family "
        "name (a counter's wms_errors reads wms_errors_total; a histogram with quantile).",
    },
    "labels": {
        "type": "object",
        "propertyNames": {"pattern": LABEL_NAME},
        "additionalProperties": {"type": ["string", "number", "boolean"]},
        "description": "Only the series whose labels have these values (exact; values are "
        "templates), such as {service: api}.",
    },
    "aggregate": {
        "enum": list(AGGREGATES),
        "description": "How the series matched make one value: sum (default), avg, max, "
        "min or count.",
    },
    "quantile": {
        "type": "number",
        "exclusiveMinimum": 0,
        "exclusiveMaximum": 1,
        "description": "The metric is a histogram: this quantile (0.95 for p95) of its "
        "_bucket series summed per le, as histogram_quantile computes it. Not with aggregate.",
    },
    "default": {
        "type": "number",
        "description": "The value when no series matches (or the value is NaN), instead of "
        "a step error, such as 0.",
    },
}

SCHEMA = {
    "title": "Prometheus metric or query",
    "type": "object",
    "additionalProperties": False,
    "description": "A number from a Prometheus /metrics endpoint (url with metric, or "
    "metrics) or a PromQL query against a Prometheus server (server with query). Result: "
    "value and series (with metrics: one value per name).",
    "properties": {
        "url": {
            "type": "string",
            "minLength": 1,
            "description": "The /metrics endpoint to scrape (a template), such as "
            "http://wms01:8000/metrics.",
        },
        "server": {
            "type": "string",
            "minLength": 1,
            "description": "A Prometheus server's base URL (a template), such as "
            "http://prometheus:9090; query: says what to ask it.",
        },
        "query": {
            "type": "string",
            "minLength": 1,
            "description": "A PromQL instant query for server (a template), such as "
            "sum(rate(wms_errors_total[5m])).",
        },
        **SELECTOR_PROPERTIES,
        "metrics": {
            "type": "object",
            "minProperties": 1,
            "propertyNames": {"pattern": RESULT_NAME},
            "additionalProperties": {"$ref": "#/$defs/prometheus_selector"},
            "description": "Several readings of one scrape: result name -> {metric, labels, "
            "aggregate, quantile, default}; each name's value is in the result.",
        },
        "headers": {
            "type": "object",
            "propertyNames": {"type": "string"},
            "additionalProperties": {"type": "string"},
            "description": "Request headers; values are templates, secrets from `env.NAME` "
            "are masked.",
        },
        "timeout": {
            "$ref": "#/$defs/duration",
            "description": "Longest time the request may take. Default: the step's timeout.",
        },
        "verify": {
            "type": ["boolean", "string"],
            "description": "TLS certificate verification: true (default), false, or the path "
            "of a CA bundle file.",
        },
    },
}


#: The step type's $defs: the `prometheus:` mapping and one entry of its `metrics:`.
DEFINITIONS = {
    "prometheus": SCHEMA,
    "prometheus_selector": {
        "title": "Prometheus reading",
        "type": "object",
        "additionalProperties": False,
        "required": ["metric"],
        "description": "One reading of a scrape: a metric, its label filter, and how its "
        "series make one value.",
        "properties": SELECTOR_PROPERTIES,
    },
}


def meaning(spec: Mapping[str, Any], rendered: bool) -> Iterator[Problem]:
    """Each way the keys of `spec` do not fit together, or a value cannot work (a URL that
    is not http(s), a name that is not a metric's). Types and ranges, which the schema
    checks at validation, are checked here only once rendered (`rendered`), as are the
    values of templates."""
    has = {key for key, value in spec.items() if value is not None}
    url, server = "url" in has, "server" in has
    if url and server:
        yield Problem("server", "prometheus takes url or server, not both", _FORMS)
        return
    if not url and not server:
        yield Problem(
            "", "prometheus needs url (a /metrics endpoint) or server (Prometheus)", _FORMS
        )
    for key in ("url", "server"):
        if key in has:
            yield from _url_problem(key, spec[key], rendered)
    if server:
        if "query" not in has:
            yield Problem(
                "server", "a Prometheus server needs query:, the PromQL to evaluate", _QUERY
            )
        for key in ("metric", "metrics", "labels", "quantile"):
            if key in has:
                yield Problem(
                    key, f"{key} reads a /metrics endpoint (url:), not a server", _IN_QUERY
                )
    if url:
        if "query" in has:
            yield Problem("query", "query is PromQL for a Prometheus server (server:)", _NOT_QUERY)
        if "metric" in has and "metrics" in has:
            yield Problem("metrics", "prometheus takes metric or metrics, not both", None)
        elif "metric" not in has and "metrics" not in has:
            yield Problem("url", "reading a /metrics endpoint needs metric: (or metrics:)", _METRIC)
    if "metrics" in has:
        for key in ("labels", "aggregate", "quantile", "default"):
            if key in has:
                yield Problem(key, f"with metrics:, give {key} in each entry", _ENTRY)
        entries = spec["metrics"]
        if isinstance(entries, Mapping):
            for name, entry in entries.items():
                if name == "series":
                    yield Problem(
                        "metrics.series",
                        "the name series is taken: the result's series holds each name's count",
                        "give the reading another name",
                    )
                if isinstance(entry, Mapping):
                    yield from _selector_problems(entry, f"metrics.{name}.", rendered)
                elif rendered:
                    yield Problem(f"metrics.{name}", "each entry of metrics is a mapping", _ENTRY)
        elif rendered:
            yield Problem("metrics", "metrics is a mapping of result names to readings", _ENTRY)
    elif not server:
        yield from _selector_problems(spec, "", rendered)
    elif rendered:
        yield from _aggregate_problem(spec)


def _url_problem(key: str, url: Any, rendered: bool) -> Iterator[Problem]:
    if not isinstance(url, str):
        if rendered:
            yield Problem(key, f"{key} must be a URL, not {url!r}", None)
        return
    if not rendered and is_template(url):
        return
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url.strip())
        bad = parts.scheme not in ("http", "https") or not parts.hostname
    except ValueError:
        bad = True
    if bad:
        example = "http://wms01:8000/metrics" if key == "url" else "http://prometheus:9090"
        yield Problem(
            key, f"{mask_url(url)!r} is not an http(s) URL", f"write it as {example}", "value"
        )


def _selector_problems(spec: Mapping[str, Any], prefix: str, rendered: bool) -> Iterator[Problem]:
    metric, quantile = spec.get("metric"), spec.get("quantile")
    if isinstance(metric, str):
        if (rendered or not is_template(metric)) and not METRIC_NAME.match(metric):
            yield Problem(
                f"{prefix}metric", f"{metric!r} is not a Prometheus metric name", _METRIC, "value"
            )
    elif rendered:
        yield Problem(f"{prefix}metric", "needs metric:, the name of a metric", _METRIC)
    if quantile is not None and spec.get("aggregate") is not None:
        yield Problem(
            f"{prefix}quantile",
            "quantile reads a histogram's buckets and takes no aggregate",
            "leave out aggregate: the buckets of the series matched are summed per le",
        )
    if not rendered:
        return  # the rest are types and ranges, which the schema checks
    labels = spec.get("labels")
    if labels is not None and not isinstance(labels, Mapping):
        yield Problem(f"{prefix}labels", "labels is a mapping of label names to values", None)
    yield from _aggregate_problem(spec, prefix)
    if quantile is not None and (as_number(quantile) is None or not 0 < float(quantile) < 1):
        yield Problem(
            f"{prefix}quantile", f"quantile {quantile!r} is not between 0 and 1", "such as 0.95"
        )
    if spec.get("default") is not None and as_number(spec["default"]) is None:
        yield Problem(
            f"{prefix}default", f"default {spec['default']!r} is not a number", "such as 0"
        )


def _aggregate_problem(spec: Mapping[str, Any], prefix: str = "") -> Iterator[Problem]:
    if spec.get("aggregate") not in (None, *AGGREGATES):
        message = f"aggregate {spec['aggregate']!r} is not one of {', '.join(AGGREGATES)}"
        yield Problem(f"{prefix}aggregate", message, None)


_FORMS = "url: http://host:port/metrics with metric:, or server: http://prometheus:9090 with query:"
_QUERY = "such as query: sum(rate(wms_errors_total[5m]))"
_IN_QUERY = 'write the selection in the PromQL query, such as sum(wms_errors_total{service="api"})'
_NOT_QUERY = "to scrape the endpoint, name the metric with metric:"
_METRIC = "such as metric: wms_errors_total"
_ENTRY = "such as metrics: {queue: {metric: wms_celery_queue_length}}"


def as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
