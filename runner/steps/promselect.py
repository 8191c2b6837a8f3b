"""Readings for the `prometheus` step: the series a selector picks from a `/metrics`
exposition, or from the answer of a PromQL query, made one number.

No HTTP here (runner/steps/prometheus.py fetches): an exposition's text is parsed with
prometheus_client's own parser, imported when one is read.

- A selector names a metric by its sample name (`wms_errors_total`, `x_count`) or by its
  family's name (a counter's `wms_errors` reads `wms_errors_total`), keeps the series
  whose labels have the values it gives, and aggregates them: sum (default), avg, max,
  min or count.
- With `quantile`, the metric is a histogram: its `_bucket` series (after the label
  filter) are summed per `le`, and the quantile is interpolated as Prometheus's
  `histogram_quantile` does.
- A value that is not a number (NaN; a histogram without observations) reads as None.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from runner.base.errors import StepError
from runner.base.suggest import did_you_mean

AGGREGATES = ("sum", "avg", "max", "min", "count")
#: How much of the parser's complaint a parse error shows (it quotes the line).
MAX_ERROR_TEXT = 200


class Missing(StepError):
    """No series matched a selector (a `default:` stands in for the value)."""


class Sample(NamedTuple):
    name: str
    labels: Mapping[str, str]
    value: float


class Family(NamedTuple):
    name: str
    type: str  # counter, gauge, histogram, summary, unknown, ...
    samples: tuple[Sample, ...]


class Selector(NamedTuple):
    """What one reading picks, rendered and checked."""

    metric: str
    labels: Mapping[str, str]
    aggregate: str | None = None  # None: sum
    quantile: float | None = None


class Reading(NamedTuple):
    value: float | int | None  # None: not a number (NaN)
    series: int  # how many series were read


def parse_exposition(text: str, where: str) -> list[Family]:
    """The metric families of a Prometheus text exposition; StepError when it is not one."""
    from prometheus_client.parser import text_string_to_metric_families

    try:
        return [
            Family(
                family.name,
                family.type,
                tuple(Sample(s.name, s.labels, float(s.value)) for s in family.samples),
            )
            for family in text_string_to_metric_families(text)
        ]
    except (ValueError, TypeError, IndexError, KeyError) as error:
        # The parser quotes the offending line, which may be a whole one-line JSON answer.
        said = str(error) or type(error).__name__
        if len(said) > MAX_ERROR_TEXT:
            said = f"{said[:MAX_ERROR_TEXT]}... ({len(said) - MAX_ERROR_TEXT} more characters)"
        raise StepError(f"{where} did not answer a Prometheus exposition: {said}") from None


def select(families: Sequence[Family], selector: Selector, where: str) -> Reading:
    """The reading `selector` picks from `families`; Missing when no series matches."""
    if selector.quantile is not None:
        return _quantile(families, selector, where)
    names = _sample_names(families, selector.metric)
    if not names:
        histogram = _family(families, selector.metric, ("histogram", "gaugehistogram"))
        if histogram is not None:
            raise StepError(
                f"{selector.metric} is a histogram: give quantile: (such as 0.95), or read "
                f"{selector.metric}_count or {selector.metric}_sum"
            )
        raise _unknown(families, selector.metric, where)
    candidates = [s for f in families for s in f.samples if s.name in names]
    matched = [s for s in candidates if _matches(s.labels, selector.labels)]
    if not matched:
        raise _unmatched(selector, candidates, where)
    return Reading(aggregate([s.value for s in matched], selector.aggregate), len(matched))


def aggregate(values: Sequence[float], how: str | None) -> float | int | None:
    """`values` made one number: sum (how None), avg, max, min or count."""
    how = how or "sum"
    if how == "count":
        return len(values)
    if how == "sum":
        total = math.fsum(values)
    elif how == "avg":
        total = math.fsum(values) / len(values)
    elif how == "max":
        total = max(values)
    elif how == "min":
        total = min(values)
    else:
        raise StepError(f"aggregate {how!r} is not one of {', '.join(AGGREGATES)}")
    return number(total)


def number(value: float) -> float | int | None:
    """A sample's value as results keep it: None for NaN, an int when it is whole."""
    if math.isnan(value):
        return None
    if math.isfinite(value) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def histogram_quantile(q: float, buckets: Iterable[tuple[float, float]]) -> float:
    """The q-quantile of a histogram's cumulative (upper bound, count) buckets, as
    Prometheus's histogram_quantile interpolates it; NaN without observations."""
    ordered = sorted(buckets)
    if not ordered or ordered[-1][0] != math.inf:
        raise StepError("the histogram has no +Inf bucket")
    if len(ordered) < 2 or ordered[-1][1] == 0:
        return math.nan
    # a count may not fall from one bucket to the next: a scrape between two increments
    counts: list[float] = []
    for _, count in ordered:
        counts.append(max(count, counts[-1]) if counts else count)
    rank = q * counts[-1]
    index = next(i for i, count in enumerate(counts) if count >= rank)
    if index == len(ordered) - 1:
        return ordered[-2][0]
    upper = ordered[index][0]
    if index == 0 and upper <= 0:
        return upper
    lower, below = (ordered[index - 1][0], counts[index - 1]) if index > 0 else (0.0, 0.0)
    return lower + (upper - lower) * (rank - below) / (counts[index] - below)


def query_reading(answer: Any, how: str | None, query: str) -> Reading:
    """The reading of a Prometheus /api/v1/query answer's `data`: a scalar, or a vector
    (one series, or several made one by `how`); Missing for an empty vector."""
    kind = answer.get("resultType") if isinstance(answer, Mapping) else None
    result = answer.get("result") if isinstance(answer, Mapping) else None
    if kind == "scalar" and isinstance(result, list) and len(result) == 2:
        return Reading(number(_float(result[1])), 1)
    if kind == "vector" and isinstance(result, list):
        if not result:
            raise Missing(f"the query {query} returned no series")
        values = [_float((item or {}).get("value", [None, None])[1]) for item in result]
        return Reading(aggregate(values, how), len(values))
    if kind == "matrix":
        raise StepError(
            f"the query {query} returned a range vector: ask for an instant value, such as "
            "max_over_time(...[5m]) instead of ...[5m]"
        )
    raise StepError(f"the query {query} returned a {kind or 'malformed'} result, not a number")


def _float(value: Any) -> float:
    try:
        return float(value)  # Prometheus writes numbers as strings: "3", "NaN", "+Inf"
    except (TypeError, ValueError):
        raise StepError(f"Prometheus answered {value!r} where a number belongs") from None


def _quantile(families: Sequence[Family], selector: Selector, where: str) -> Reading:
    base = selector.metric.removesuffix("_bucket")
    candidates = [s for f in families for s in f.samples if s.name == f"{base}_bucket"]
    if not candidates:
        raise _unknown(families, base, where, "histogram")
    matched = [s for s in candidates if _matches(s.labels, selector.labels)]
    if not matched:
        raise _unmatched(selector, candidates, where)
    buckets: dict[float, float] = {}
    series: set[tuple[tuple[str, str], ...]] = set()
    for sample in matched:
        try:
            bound = float(sample.labels["le"])
        except (KeyError, ValueError):
            raise StepError(f"{base}_bucket has a series without a number in le") from None
        buckets[bound] = buckets.get(bound, 0.0) + sample.value
        series.add(tuple(sorted((k, v) for k, v in sample.labels.items() if k != "le")))
    try:
        value = histogram_quantile(selector.quantile or 0.0, buckets.items())
    except StepError as error:
        raise StepError(f"{base}: {error}") from None
    return Reading(number(value), len(series))


def _sample_names(families: Sequence[Family], metric: str) -> set[str]:
    """The sample names `metric` stands for: itself, or a counter family's `_total`."""
    names = {s.name for f in families for s in f.samples}
    if metric in names:
        return {metric}
    counter = _family(families, metric, ("counter",))
    if counter is not None and f"{metric}_total" in names:
        return {f"{metric}_total"}
    return set()


def _family(families: Sequence[Family], name: str, types: tuple[str, ...]) -> Family | None:
    return next((f for f in families if f.name == name and f.type in types), None)


def _matches(labels: Mapping[str, str], wanted: Mapping[str, str]) -> bool:
    return all(labels.get(key, "") == value for key, value in wanted.items())


def _unknown(families: Sequence[Family], metric: str, where: str, what: str = "metric") -> Missing:
    known = {s.name for f in families for s in f.samples} | {f.name for f in families}
    hint = did_you_mean(metric, known)
    return Missing(f"{where} has no {what} {metric}" + (f" ({hint})" if hint else ""))


def _unmatched(selector: Selector, candidates: Sequence[Sample], where: str) -> Missing:
    wanted = ", ".join(f'{key}="{value}"' for key, value in selector.labels.items())
    seen: list[str] = []
    for key in selector.labels:
        values = sorted({s.labels[key] for s in candidates if key in s.labels})
        seen.append(f"{key}: {', '.join(values[:10]) if values else 'none'}")
    return Missing(
        f"no series of {selector.metric} at {where} has {{{wanted}}} "
        f"({len(candidates)} series; label values seen: {'; '.join(seen)})"
    )
