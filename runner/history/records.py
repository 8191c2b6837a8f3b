"""Rows of the state store to and from values: what is stored of a value (masked, cut,
JSON-safe) and how stored rows read back as plain dicts."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from enum import Enum
from typing import Any

from runner.base.clock import utc_text
from runner.base.decimals import is_decimal
from runner.base.masking import MASK, Masker, is_credential_key
from runner.base.structs import Struct, asdict
from runner.history.backends import Row

#: Rows of a SQL result kept in history; the rest are counted, not stored.
MAX_STORED_ROWS = 100
#: Longer texts (an HTTP body, a command's output) are cut to this many characters.
MAX_STORED_TEXT = 50_000
_MAX_DEPTH = 32

RUN_COLUMNS = (
    "run_id", "runbook", "title", "kind", "status", "outcome", "mode", "trigger",
    "inputs_json", "user", "host", "pid", "started", "ended", "duration", "error", "path",
    "seen", "slot",
)  # fmt: skip
STEP_COLUMNS = (
    "run_id", "seq", "parent_seq", "step_id", "title", "action", "status", "outcome",
    "started", "duration", "values_json", "evaluations_json", "attempts_json", "attempts",
    "error", "hint", "item_json", "items_json", "statement_json",
)  # fmt: skip
ALERT_COLUMNS = (
    "runbook", "subject", "status", "announced", "bad_since", "critical_since", "opened",
    "last_sent", "escalated", "streak", "recent_json", "last_run_id", "updated",
    "failing_json",
)  # fmt: skip
DELIVERY_COLUMNS = (
    "run_id", "runbook", "subject", "kind", "status", "tags", "url", "ok", "error",
    "attempts", "title", "at", "duration",
)  # fmt: skip
_EXIT_CODES = {"OK": 0, "SKIPPED": 0, "WARNING": 1, "CRITICAL": 2, "UNKNOWN": 3}


#: Per runbook, in one walk of the index on (runbook, started): its newest real run,
#: finished or still going (`newest_started`, `newest_outcome`: late detection), and its
#: newest finished real run as `last_run` picks it (the columns `status` shows, NULL
#: when it has none). The runbooks are walked one seek each (a loose index scan: SQLite
#: and PostgreSQL would otherwise read every index entry for DISTINCT), then each one's
#: newest run is one seek backwards in idx_runs_newest (migration 10: it holds what the
#: seek compares and returns, so no row is read for it and no sort breaks ties); only
#: when that run is still going is its newest finished run a second seek. Never the
#: whole table. A runbook with no real run (only dry runs or rehearsals) has no row.
LAST_RUNS_SQL = """
    WITH RECURSIVE books (runbook) AS (
        SELECT MIN(runbook) FROM runs
        UNION ALL
        SELECT (SELECT MIN(runs.runbook) FROM runs WHERE runs.runbook > books.runbook)
        FROM books WHERE books.runbook IS NOT NULL
    )
    SELECT books.runbook AS book, latest.started AS newest_started,
        latest.outcome AS newest_outcome, runs.run_id, runs.status, runs.started,
        runs.duration, runs.outcome
    FROM books
    JOIN runs AS latest ON latest.run_id = (
        SELECT newest.run_id FROM runs AS newest
        WHERE newest.runbook = books.runbook AND newest.mode = 'run'
        ORDER BY newest.started DESC, newest.run_id DESC LIMIT 1
    )
    LEFT JOIN runs ON runs.run_id = CASE WHEN latest.outcome <> 'running' THEN latest.run_id
        ELSE (
            SELECT finished.run_id FROM runs AS finished
            WHERE finished.runbook = books.runbook AND finished.mode = 'run'
                AND finished.outcome <> 'running'
            ORDER BY finished.started DESC, finished.run_id DESC LIMIT 1
        ) END
"""


def column_list(names: tuple[str, ...]) -> str:
    """A column list; "user" is reserved in PostgreSQL (and harmless quoted in SQLite)."""
    return ", ".join(f'"{name}"' if name == "user" else name for name in names)


def limit_rows(values: Mapping[str, Any]) -> Mapping[str, Any]:
    rows = values.get("rows") if isinstance(values, Mapping) else None
    if not isinstance(rows, (list, tuple)) or len(rows) <= MAX_STORED_ROWS:
        return values
    return {
        **values,
        "rows": list(rows[:MAX_STORED_ROWS]),
        "rows_truncated": True,
        "rows_total": len(rows),
    }


def cut(text: str) -> str:
    if len(text) <= MAX_STORED_TEXT:
        return text
    return f"{text[:MAX_STORED_TEXT]}... ({len(text) - MAX_STORED_TEXT} more characters)"


def storable(value: Any, masker: Masker, depth: int = 0) -> Any:
    """JSON-safe, masked copy of a value; never fails on a type it does not know."""
    if depth > _MAX_DEPTH:
        return "<nested too deeply>"
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, Enum):
        return storable(value.value, masker, depth + 1)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        return cut(masker.mask_text(value))
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if is_decimal(value):
        if not value.is_finite():
            return str(value)
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, datetime) and value.tzinfo is not None:
        return utc_text(value)
    if isinstance(value, (datetime, date, time)):  # naive: the database's own clock
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return cut(bytes(value).hex())
    if isinstance(value, Mapping):
        return {
            _storable_key(key, masker): (
                MASK if item and is_credential_key(key) else storable(item, masker, depth + 1)
            )
            for key, item in value.items()
        }
    if isinstance(value, (list, tuple, set, frozenset)):
        return [storable(item, masker, depth + 1) for item in value]
    if isinstance(value, Struct):
        return storable(asdict(value), masker, depth + 1)
    if hasattr(type(value), "__dataclass_fields__"):  # a dataclass instance
        import dataclasses  # already imported by the value's own module

        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return storable(fields, masker, depth + 1)
    try:
        text = str(value)
    except Exception:  # an object whose __str__ fails must not lose the run's record
        text = f"<{type(value).__name__}>"
    return cut(masker.mask_text(text))


def _storable_key(key: Any, masker: Masker) -> str:
    if isinstance(key, str):
        return masker.mask_text(key)
    stored = storable(key, masker, _MAX_DEPTH)
    return stored if isinstance(stored, str) else json.dumps(stored)


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def alert_dict(row: Row) -> dict[str, Any]:
    data = {key: row[key] for key in ALERT_COLUMNS[1:] if not key.endswith("_json")}
    data["escalated"] = int(row["escalated"] or 0)  # stages of the ladder announced
    data["recent"] = _loads(row["recent_json"]) or []
    data["failing"] = _loads(row["failing_json"])  # None: not known (an older row)
    return data


def alert_row(runbook: str, subject: str, row: Mapping[str, Any], now: str | None) -> list[Any]:
    failing = row.get("failing")
    values = {
        **row,
        "runbook": runbook,
        "subject": subject,
        "escalated": int(row.get("escalated") or 0),
        "recent_json": json.dumps(list(row.get("recent") or [])),
        "updated": now,
        "failing_json": None if failing is None else json.dumps(list(failing)),
    }
    return [values.get(column) for column in ALERT_COLUMNS]


def delivery_dict(row: Row) -> dict[str, Any]:
    data = {key: row[key] for key in ("id", *DELIVERY_COLUMNS)}
    data["ok"] = bool(row["ok"])
    data["tags"] = [tag for tag in (row["tags"] or "").split(",") if tag]
    return data


def run_dict(row: Row) -> dict[str, Any]:
    # `seen` is the heartbeat (history/reconcile.py); an abandoned run's `ended` says it.
    # `slot` is the scheduler's (StateStore.last_slots).
    data = {key: row[key] for key in RUN_COLUMNS if key not in ("inputs_json", "seen", "slot")}
    data["inputs"] = _loads(row["inputs_json"]) or {}
    data["exit_code"] = _EXIT_CODES.get(row["status"]) if row["status"] else None
    return data


def step_tree(rows: list[Row]) -> list[dict[str, Any]]:
    """Step rows (ordered by seq) as nested dicts shaped like StepResult.as_dict()."""
    by_seq: dict[int, dict[str, Any]] = {}
    top: list[dict[str, Any]] = []
    for row in rows:
        step = {
            "seq": row["seq"],
            "parent_seq": row["parent_seq"],
            "id": row["step_id"],
            "title": row["title"],
            "action": row["action"],
            "status": row["status"],
            "outcome": row["outcome"],
            "started": row["started"],
            "duration": row["duration"],
            "values": _loads(row["values_json"]) or {},
            "evaluations": _loads(row["evaluations_json"]) or [],
            "attempts": _loads(row["attempts_json"]) or [],
            "error": row["error"],
            "hint": row["hint"],
            "item": _loads(row["item_json"]),
            "children": [],
        }
        items = _loads(row["items_json"])
        if items is not None:  # a for_each: its items counted (engine/items.py)
            step["items_summary"] = items
        statement = _loads(row["statement_json"])
        if statement is not None:  # a SQL step's statement as sent (engine/sent.py)
            step["statement"] = statement
        by_seq[row["seq"]] = step
        parent = by_seq.get(row["parent_seq"]) if row["parent_seq"] is not None else None
        (parent["children"] if parent is not None else top).append(step)
    return top


def where_clause(
    *,
    runbook: str | None = None,
    status: str | None = None,
    mode: str | None = None,
    include_running: bool = True,
) -> tuple[str, list[Any]]:
    """A WHERE clause (or "") and its bound values for the runs, alerts or deliveries of
    a runbook, a status or a mode."""
    clauses: list[str] = []
    params: list[Any] = []
    if runbook is not None:
        clauses.append("runbook = ?")
        params.append(runbook)
    if status is not None:
        clauses.append("status = ?")
        params.append(str(status).upper())
    if mode is not None:
        clauses.append("mode = ?")
        params.append(mode)
    if not include_running:
        clauses.append("outcome <> 'running'")
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", params


def escape_like(text: str) -> str:
    """`text` matched literally by `LIKE ... ESCAPE '\\'`."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
