"""What the history page and `/api/history` show: every run the store holds, newest
first, filtered by runbook, status, trigger and the time it started, a page at a time.

Pages are keyset pages: the link to the next one carries the (started, run_id) of the
last run shown, and the next page is the runs before it in that order, read through an
index (StateStore.history_page). A page deep in the history costs what the first does,
and a run recorded meanwhile does not shift the pages after it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple
from urllib.parse import urlencode

from runner.base.clock import utc_text
from runner.base.status import Status

#: How many runs a page shows.
PAGE = 50

#: The query parameters of the filters, in the form's order.
FILTERS = ("runbook", "status", "trigger", "from", "to")

#: The statuses a run can end with, for the filter (a run still going has none).
STATUSES = tuple(status.value for status in Status)


class BadFilter(ValueError):
    """A filter value the history cannot use: its message says which and why."""


class Query(NamedTuple):
    """The filters and cursor of one history page, checked; times as the store keeps
    them (UTC text)."""

    filters: dict[str, str]
    """The filters given, as given (empty ones left out): the form's values."""
    runbook: str | None
    status: str | None
    trigger: str | None
    started_from: str | None
    started_to: str | None
    after: tuple[str, str] | None


def _moment(name: str, text: str) -> str:
    """`text` (ISO 8601: a date, or a date and time with an optional offset; UTC when
    it has none) as the store's UTC text."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise BadFilter(
            f"{name}={text!r} is not a time: give ISO 8601, "
            "e.g. 2026-11-24 or 2026-11-24T09:15 (UTC) or 2026-11-24T09:15+01:00"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return str(utc_text(moment))


def parse_query(params: Mapping[str, str]) -> Query:
    """The history query of a request's parameters; BadFilter for a value it cannot
    use (an unknown status, a malformed time or cursor)."""
    filters = {name: params[name].strip() for name in FILTERS if params.get(name, "").strip()}
    status = filters.get("status")
    if status is not None:
        status = status.upper()
        if status not in STATUSES:
            raise BadFilter(
                f"status={filters['status']!r} is not a status: give one of {', '.join(STATUSES)}"
            )
    started_from = _moment("from", filters["from"]) if "from" in filters else None
    started_to = _moment("to", filters["to"]) if "to" in filters else None
    after = None
    after_started, after_run = params.get("after_started"), params.get("after_run")
    if after_started or after_run:
        if not (after_started and after_run):
            raise BadFilter("a next-page cursor needs both after_started and after_run")
        after = (_moment("after_started", after_started), after_run)
    return Query(
        filters,
        filters.get("runbook"),
        status,
        filters.get("trigger"),
        started_from,
        started_to,
        after,
    )


class HistoryPage(NamedTuple):
    runs: list[dict[str, Any]]
    """The runs of the page, newest first, as `runbook history --format json` lists them."""
    next: dict[str, str] | None
    """The cursor of the next page ({after_started, after_run}: the last run's started,
    as the store keeps it, and id), None on the last page."""
    next_query: str | None
    """The query string of the next page: the filters and the cursor."""


def history_page(library: Any, query: Query) -> HistoryPage:
    """One page (PAGE runs) of the runs `query` asks for, and the cursor of the next one."""
    limit = PAGE
    from runner.history.store import open_store
    from runner.reports.render import render_history

    with open_store(library.config) as store:
        rows = store.history_page(
            runbook=query.runbook,
            status=query.status,
            trigger=query.trigger,
            started_from=query.started_from,
            started_to=query.started_to,
            after=query.after,
            limit=limit + 1,  # one more: whether there is a next page
        )
    shown = rows[:limit]
    cursor = None
    next_query = None
    if len(rows) > limit:
        last = shown[-1]
        cursor = {"after_started": str(last["started"]), "after_run": str(last["run_id"])}
        next_query = urlencode({**query.filters, **cursor})
    runs: list[dict[str, Any]] = json.loads(render_history(shown, "json"))
    return HistoryPage(runs, cursor, next_query)
