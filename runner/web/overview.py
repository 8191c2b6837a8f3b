"""What the overview page and `/api/runbooks` show: every runbook of the library as
`runbook status` lists it (its last finished run, open alert and lateness, worst first),
with its title, kind and tags, its next run time when scheduled, and the statuses of its
last runs for the strip. Filtered by tag and kind."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, NamedTuple

from runner.base.timestamps import timestamp, timestamp_text

#: How many of a runbook's last runs the strip shows.
STRIP = 30


class Sources(NamedTuple):
    """Where the overview reads from, handed down by `runbook serve` (cli/commands.py)."""

    library: Callable[[], Any]
    """A fresh library of this configuration (a runbook file changed is read again)."""

    status_rows: Callable[[Any], list[dict[str, Any]]]
    """`runbook status`'s rows of that library (cli/store.py `status_rows`)."""


class Overview(NamedTuple):
    runbooks: list[dict[str, Any]]
    tags: list[str]
    """Every tag of the library's runbooks, for the filter."""
    kinds: list[str]
    """Every kind of the library's runbooks, for the filter."""


def overview(sources: Sources, *, tag: str | None = None, kind: str | None = None) -> Overview:
    """Every runbook (only those with `tag` and of `kind`, when given), worst first."""
    from runner.history.store import open_store

    library = sources.library()
    rows = sources.status_rows(library)
    now = datetime.now(UTC)
    runbooks = []
    for row in rows:
        path = library.path_of("runbook", row["runbook"])
        info, errors = library.summary(path) if path else ({}, 1)
        runbooks.append(
            {
                **row,
                "started": timestamp_text(row["started"]),
                "title": info.get("title"),
                "kind": info.get("kind"),
                "tags": list(info.get("tags") or []),
                "valid": not errors,
                "next_run": _next_run(row["schedule"], info.get("timing"), now),
            }
        )
    tags = sorted({name for book in runbooks for name in book["tags"]})
    kinds = sorted({book["kind"] for book in runbooks if book["kind"]})
    shown = [
        book
        for book in runbooks
        if (not tag or tag in book["tags"]) and (not kind or book["kind"] == kind)
    ]
    # the strips: the last STRIP finished real runs of each, oldest first, in one query
    with open_store(library.config) as store:
        recent = store.recent_runs([book["runbook"] for book in shown], STRIP)
    for book in shown:
        book["recent"] = [
            {**run, "started": timestamp_text(run["started"])}
            for run in recent.get(book["runbook"], [])
        ]
    return Overview(shown, tags, kinds)


def _next_run(schedule: str | None, timing: dict[str, Any] | None, now: datetime) -> str | None:
    """When a scheduled runbook runs next, in UTC; None for one without (or with a
    broken) schedule: `runbook validate` says why."""
    if not schedule:
        return None
    from runner.schedule.cron import CronSchedule, ScheduleError

    try:
        cron = CronSchedule(schedule, (timing or {}).get("timezone"))
    except ScheduleError:
        return None
    upcoming = cron.next_times(now, 1)
    return timestamp(upcoming[0]) if upcoming else None
