"""What `runbook metrics` and a web server's /metrics expose, read from the state store
and the runbook library: per runbook, its last finished real run (status, duration,
start), its last success, its runs by status and whether it is late; per threshold of
that last run, its value and limits. reports/metrics.py renders it for Prometheus.

The runbooks are those of the library, as `runbook status` lists them; late detection
is the same (schedule/lateness.py: the due slot past its grace with no run since), and
dead runs are reconciled first, as `status` does, so both tell the same story. Labels
come from runbook names, step ids and threshold names only; values are numbers, so no
secret has a way out (a masked value is text, and is left out).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from contextlib import suppress
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from runner.history.store import open_store

if TYPE_CHECKING:
    from runner.language.library import Library
    from runner.schedule.cron import CronSchedule


def metrics_text(
    library: Library,
    *,
    now: datetime | None = None,
    warn: Callable[[str], None] = lambda message: None,
) -> str:
    """The Prometheus text exposition of every runbook of `library` (a web server passes
    `RunService.library()`, a fresh snapshot per scrape). `warn` hears what could not
    be done and did not stop it (dead runs not reconciled in a read-only store)."""
    from runner.reports.metrics import render_metrics

    return render_metrics(read_metrics(library, now=now, warn=warn))


def read_metrics(
    library: Library,
    *,
    now: datetime | None = None,
    warn: Callable[[str], None] = lambda message: None,
) -> list[dict[str, Any]]:
    """One mapping per runbook of the library, sorted by name: `runbook`, `status`
    (of its last finished real run, None when it never ran), `duration` (seconds),
    `started` and `last_success` (unix seconds), `runs` ({status: count}), `late` (True
    or False; None when it has no schedule) and `thresholds` (step, threshold,
    direction, status, and value, warning and critical when they are numbers)."""
    now = now if now is not None else datetime.now(UTC)
    with open_store(library.config) as store:
        try:
            store.reconcile()  # runs whose process died: no longer "running"
        except Exception as error:
            warn(f"runs that died were not reconciled: {error}")
        last_runs, newest = store.last_runs()
        counts, successes = store.run_counts()
        evaluations = store.step_evaluations(
            [run["run_id"] for run in last_runs.values() if run.get("run_id")]
        )
    schedules: dict[tuple[str, str | None], CronSchedule | None] = {}
    rows = []
    for name in sorted(library.names("runbook")):
        last = last_runs.get(name) or {}
        path = library.path_of("runbook", name)
        info, errors = library.summary(path) if path else ({}, 1)
        late = None
        if not errors and info.get("schedule") and info.get("timing"):
            late = _late(info["schedule"], info["timing"], newest.get(name), path, now, schedules)
        success = successes.get(name)
        rows.append(
            {
                "runbook": name,
                "status": last.get("status"),
                "duration": last.get("duration"),
                "started": _unix(last.get("started")),
                "last_success": success.timestamp() if success is not None else None,
                "runs": counts.get(name, {}),
                "late": late,
                "thresholds": _thresholds(evaluations.get(last.get("run_id") or "", [])),
            }
        )
    library.save_cache()
    return rows


def _late(
    schedule: str,
    timing: Mapping[str, Any],
    newest: tuple[datetime, bool] | None,
    path: Any,
    now: datetime,
    schedules: dict[tuple[str, str | None], CronSchedule | None],
) -> bool | None:
    """Whether a scheduled runbook is late, as `runbook status` tells it: one that never
    ran is not late for slots before its file was last written. None when its schedule
    cannot be read (`runbook validate` says why)."""
    from runner.schedule.cron import CronSchedule, ScheduleError
    from runner.schedule.lateness import late

    key = (schedule, timing.get("timezone"))
    if key not in schedules:
        try:
            schedules[key] = CronSchedule(schedule, timing.get("timezone"))
        except ScheduleError:
            schedules[key] = None
    cron = schedules[key]
    if cron is None:
        return None
    since = None
    if newest is None and path is not None:
        with suppress(OSError):
            since = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    return late(cron, float(timing["grace"]), now, newest, since) is not None


def _thresholds(steps: list[tuple[str, Any]]) -> list[dict[str, Any]]:
    """The thresholds (not the asserts) of a run's steps; a (step, threshold) pair seen
    twice keeps its first."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for step, evaluations in steps:
        for evaluation in evaluations if isinstance(evaluations, list) else []:
            if not isinstance(evaluation, dict) or evaluation.get("kind") != "threshold":
                continue
            key = (step, str(evaluation.get("name")))
            if key in found:
                continue
            found[key] = {
                "step": step,
                "threshold": key[1],
                "direction": evaluation.get("direction") or "above",
                "status": evaluation.get("status"),
                "value": _number(evaluation.get("value")),
                "warning": _number(evaluation.get("warning")),
                "critical": _number(evaluation.get("critical")),
            }
    return list(found.values())


def _number(value: Any) -> float | None:
    """A stored number as a float; anything else (text, a masked value, NULL) is None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer past a float's range
        return None
    return number if not math.isnan(number) else None


def _unix(text: Any) -> float | None:
    if not isinstance(text, str) or not text:
        return None
    return datetime.fromisoformat(text).timestamp()
