"""The Prometheus text exposition of what service/metrics.py read: written by
prometheus_client (names, HELP and TYPE lines, label escaping), from metric families
built for one scrape rather than kept in a process-wide registry, so two servers or a
test in one process never share a metric. Only `runbook metrics` and /metrics import
this module: a run never loads prometheus_client.

Names follow Prometheus' conventions: a `runbook_` prefix, base units (`_seconds`,
`_timestamp_seconds` for unix times). Every metric is a gauge: even the runs by status,
which retention lowers. docs: README "Metrics".
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector, CollectorRegistry

from runner.base.status import Status

#: A status as a number, as Nagios plugins exit with it: 0 OK, 1 WARNING, 2 CRITICAL,
#: 3 UNKNOWN.
STATUS_HELP = "0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN"

#: The statuses every runbook has a `runbook_stored_runs` series of, 0 until one ends so.
RUN_STATUSES = ("OK", "WARNING", "CRITICAL", "UNKNOWN")

THRESHOLD_LABELS = ["runbook", "step", "threshold", "direction"]


def render_metrics(rows: Sequence[Mapping[str, Any]]) -> str:
    """The exposition (text format 0.0.4) of `rows`, as service/metrics.py reads them."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(rows))
    return generate_latest(registry).decode("utf-8")


def _status_number(status: Any) -> int | None:
    try:
        return Status(status).exit_code
    except ValueError:
        return None


class _Families(Collector):
    """The metric families of one scrape."""

    def __init__(self, rows: Sequence[Mapping[str, Any]]) -> None:
        self.rows = rows

    def collect(self) -> Iterable[Metric]:
        return list(self._families())

    def _families(self) -> Iterator[Metric]:
        by_runbook = ["runbook"]
        status = GaugeMetricFamily(
            "runbook_last_status",
            f"Status of the runbook's last finished run: {STATUS_HELP}.",
            labels=by_runbook,
        )
        duration = GaugeMetricFamily(
            "runbook_last_run_duration_seconds",
            "How long the runbook's last finished run took.",
            labels=by_runbook,
        )
        started = GaugeMetricFamily(
            "runbook_last_run_timestamp_seconds",
            "When the runbook's last finished run started, in unix seconds.",
            labels=by_runbook,
        )
        success = GaugeMetricFamily(
            "runbook_last_success_timestamp_seconds",
            "When the runbook's last run that completed with status OK ended, in unix seconds.",
            labels=by_runbook,
        )
        # A gauge, not a counter: retention (`prune`) removes old runs, and a counter
        # that went down would read as a reset to rate() and increase().
        runs = GaugeMetricFamily(
            "runbook_stored_runs",
            "Finished real runs of the runbook kept in the state store, by status "
            "(retention removes old ones).",
            labels=["runbook", "status"],
        )
        late = GaugeMetricFamily(
            "runbook_late",
            "1 when the scheduled runbook missed its last due slot (as `runbook status` "
            "says LATE), else 0; absent for a runbook without a schedule.",
            labels=by_runbook,
        )
        value = GaugeMetricFamily(
            "runbook_threshold_value",
            "The value a threshold judged in the runbook's last finished run.",
            labels=THRESHOLD_LABELS,
        )
        warning = GaugeMetricFamily(
            "runbook_threshold_warning",
            "The threshold's warning limit in the last finished run (bad past it, "
            "in the direction labelled: above or below).",
            labels=THRESHOLD_LABELS,
        )
        critical = GaugeMetricFamily(
            "runbook_threshold_critical",
            "The threshold's critical limit in the last finished run (bad past it, "
            "in the direction labelled: above or below).",
            labels=THRESHOLD_LABELS,
        )
        judged = GaugeMetricFamily(
            "runbook_threshold_status",
            f"The threshold's status in the last finished run: {STATUS_HELP}.",
            labels=THRESHOLD_LABELS,
        )
        for row in sorted(self.rows, key=lambda row: str(row["runbook"])):
            name = [str(row["runbook"])]
            number = _status_number(row.get("status"))
            if number is not None:
                status.add_metric(name, number)
            _add(duration, name, row.get("duration"))
            _add(started, name, row.get("started"))
            _add(success, name, row.get("last_success"))
            counted = dict.fromkeys(RUN_STATUSES, 0) | dict(row.get("runs") or {})
            for which, count in sorted(counted.items()):
                runs.add_metric([*name, str(which)], count)
            if row.get("late") is not None:
                late.add_metric(name, 1 if row["late"] else 0)
            for threshold in row.get("thresholds") or ():
                labels = [
                    *name,
                    str(threshold["step"]),
                    str(threshold["threshold"]),
                    str(threshold["direction"]),
                ]
                _add(value, labels, threshold.get("value"))
                _add(warning, labels, threshold.get("warning"))
                _add(critical, labels, threshold.get("critical"))
                _add(judged, labels, _status_number(threshold.get("status")))
        yield from (status, duration, started, success, runs, late)
        yield from (value, warning, critical, judged)


def _add(family: GaugeMetricFamily, labels: list[str], number: Any) -> None:
    if number is not None:
        family.add_metric(labels, float(number))
