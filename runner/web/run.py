"""What the run page and `/api/runs/{run_id}` show: one recorded run as
`runbook history --run ID --format json` gives it (its steps with their values,
evaluations against their thresholds, hints, attempts and errors, and the notifications
sent, as the store keeps them: masked), with the id of the previous run of the same
runbook."""

from __future__ import annotations

import json
from typing import Any

from runner.base.errors import InputError


def recorded_run(library: Any, run_id: str) -> dict[str, Any] | None:
    """The run `run_id` (its whole id, not a prefix) as the JSON document of
    `runbook history --run ID --format json`, with `previous_run_id` added; None when
    the store has no run with that id."""
    from runner.history.store import open_store
    from runner.reports.render import render_recorded_run_json

    with open_store(library.config) as store:
        try:
            run = store.get_run(run_id)
        except InputError:  # a prefix of several ids: the page takes whole ids only
            return None
        if run is None or run["run_id"] != run_id:
            return None
        previous = store.previous_run_id(run)
    document: dict[str, Any] = json.loads(render_recorded_run_json(run))
    document["previous_run_id"] = previous
    return document


def step_rows(steps: list[dict[str, Any]], depth: int = 0) -> list[tuple[int, dict[str, Any]]]:
    """Every step of a run document with its depth, parents first: the page's rows."""
    rows: list[tuple[int, dict[str, Any]]] = []
    for step in steps:
        rows.append((depth, step))
        rows.extend(step_rows(step.get("children") or [], depth + 1))
    return rows
