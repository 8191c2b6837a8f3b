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
        previous = _previous_run_id(store, run)
    document: dict[str, Any] = json.loads(render_recorded_run_json(run))
    document["previous_run_id"] = previous
    return document


#: The run of the same runbook and mode just before a run, in the order of
#: `runbook history` (newest first: started, then run id).
_PREVIOUS_SQL = (
    "SELECT run_id FROM runs WHERE runbook = ? AND mode = ? "
    "AND (started < ? OR (started = ? AND run_id < ?)) "
    "ORDER BY started DESC, run_id DESC LIMIT 1"
)


def _previous_run_id(store: Any, run: dict[str, Any]) -> str | None:
    """The id of the run of the same runbook and mode that `runbook history` lists just
    after `run` (the one before it), or None for its first run. Read through the store's
    backend as StateStore.history reads (history/reads.py)."""
    params = [run["runbook"], run["mode"], run["started"], run["started"], run["run_id"]]
    with store._lock:
        rows = store._backend.query(_PREVIOUS_SQL, params)
    return str(rows[0]["run_id"]) if rows else None


def step_rows(steps: list[dict[str, Any]], depth: int = 0) -> list[tuple[int, dict[str, Any]]]:
    """Every step of a run document with its depth, parents first: the page's rows."""
    rows: list[tuple[int, dict[str, Any]]] = []
    for step in steps:
        rows.append((depth, step))
        rows.extend(step_rows(step.get("children") or [], depth + 1))
    return rows
