"""What the runbook page and `/api/runbooks/{name}` show: one runbook of the library (its
title, kind, tags, file, inputs with no secret's default, schedule with its next run
times, and its steps with their thresholds) and, from the state store, its last finished
real runs: their durations, and each threshold's value in each of them with the warning
and critical limits it was judged against and the run's status (the charts)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from runner.base.timestamps import timestamp, timestamp_text
from runner.language.library import listed_title

#: How many of a runbook's last runs the page charts.
SERIES = 100

#: How many next run times of a scheduled runbook the page lists.
NEXT_TIMES = 5


def runbook_view(library: Any, name: str, now: datetime | None = None) -> dict[str, Any] | None:
    """The document of runbook `name`; None when the library has no runbook of that name.
    A runbook that does not validate is shown with its recorded runs and `invalid` set
    (`runbook validate` says why)."""
    from runner.base.errors import InvalidInput
    from runner.history.store import open_store

    path = library.path_of("runbook", name)
    if path is None:
        return None
    try:
        model = library.load(path)
    except InvalidInput as error:
        model, problems = None, len(error.errors)
    else:
        problems = 0
    with open_store(library.config) as store:
        runs = store.finished_runs(name, SERIES)
        evaluations = store.step_evaluations([run["run_id"] for run in runs])
    document: dict[str, Any] = {
        "runbook": name,
        "path": str(path),
        "invalid": problems,
        "title": None,
        "kind": None,
        "tags": [],
        "description": None,
        "inputs": [],
        "schedule": None,
        "steps": [],
    }
    if model is not None:
        document.update(
            _described(model, library.config, now if now is not None else datetime.now(UTC))
        )
    shown = [
        {
            "run_id": run["run_id"],
            "started": timestamp_text(run["started"]),
            "status": run["status"],
            "duration": run["duration"],
        }
        for run in runs
    ]
    document["runs"] = shown
    document["series"] = _series(document["steps"], shown, evaluations)
    return document


def _described(model: Any, config: Any, now: datetime) -> dict[str, Any]:
    """What the runbook's file says of it: never the default of a secret input."""
    schedule = None
    if model.schedule:
        from runner.schedule.cron import CronSchedule, ScheduleError

        try:
            times = CronSchedule(model.schedule, model.timezone).next_times(now, NEXT_TIMES)
        except ScheduleError:
            times = []
        schedule = {
            "cron": model.schedule,
            "timezone": model.timezone or "UTC",
            "next": [timestamp(moment) for moment in times],
        }
    steps: list[dict[str, Any]] = []
    parts = (("steps", model.steps), ("on_failure", model.on_failure), ("finally", model.finally_))
    for part, listed in parts:
        _walk(listed, "", part, 0, steps)
    return {
        "title": listed_title(model, config) or None,  # as the overview shows it
        "kind": model.kind,
        "tags": list(model.tags),
        "description": model.description or None,
        "inputs": [
            {
                "name": spec.name,
                "type": spec.type,
                "secret": spec.secret,
                "required": not spec.has_default,
                # a secret's default is never shown, only that it has one
                "default": None if spec.secret else spec.default,
                "description": spec.description or None,
            }
            for spec in model.inputs
        ],
        "schedule": schedule,
        "steps": steps,
    }


def _walk(steps: Any, above: str, part: str, depth: int, found: list[dict[str, Any]]) -> None:
    """Every step under `steps`, parents first, with its path (the ids down to it joined
    with dots, as the store's evaluations name it) and its thresholds."""
    for step in steps:
        path = f"{above}.{step.id}" if above else step.id
        found.append(
            {
                "path": path,
                "part": part,
                "depth": depth,
                "title": step.title or None,
                "action": step.action,
                "for_each": step.for_each is not None,
                "thresholds": [
                    {
                        "name": threshold.name,
                        "warning": threshold.warning,
                        "critical": threshold.critical,
                        "direction": threshold.direction,
                    }
                    for threshold in step.thresholds
                ],
            }
        )
        _walk(step.steps, path, part, depth + 1, found)


def _series(
    steps: list[dict[str, Any]],
    runs: list[dict[str, Any]],
    evaluations: dict[str, list[tuple[str, Any]]],
) -> list[dict[str, Any]]:
    """One series per threshold: the runbook's own first (in step order), then any the
    store has that its file no longer declares. A point per run that evaluated it, oldest
    first: the run's id, start and status, the value and limits when they are numbers
    (a masked or missing value is None), and the threshold's own status."""
    series: dict[tuple[str, str], dict[str, Any]] = {}
    for step in steps:
        for threshold in step["thresholds"]:
            series[(step["path"], threshold["name"])] = {
                "step": step["path"],
                "threshold": threshold["name"],
                "direction": threshold["direction"],
                "declared": True,
                "points": [],
            }
    for run in runs:
        seen: set[tuple[str, str]] = set()
        for path, checks in evaluations.get(run["run_id"], []):
            for check in checks if isinstance(checks, list) else []:
                if not isinstance(check, dict) or check.get("kind") != "threshold":
                    continue
                key = (path, str(check.get("name")))
                if key in seen:  # a step id used twice in a run: its first
                    continue
                seen.add(key)
                line = series.setdefault(
                    key,
                    {
                        "step": path,
                        "threshold": key[1],
                        "direction": check.get("direction") or "above",
                        "declared": False,
                        "points": [],
                    },
                )
                line["points"].append(
                    {
                        "run_id": run["run_id"],
                        "started": run["started"],
                        "status": run["status"],
                        "value": _number(check.get("value")),
                        "warning": _number(check.get("warning")),
                        "critical": _number(check.get("critical")),
                        "evaluation": check.get("status"),
                    }
                )
    return list(series.values())


def _number(value: Any) -> float | int | None:
    """A stored finite number as it is; anything else (text, a masked value, NULL, a
    boolean, NaN) is None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value if isinstance(value, int) or math.isfinite(value) else None
