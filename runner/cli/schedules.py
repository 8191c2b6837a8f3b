"""`runbook next` (when each scheduled runbook runs next) and `runbook export` (the
schedules as cron, systemd, Kubernetes or Windows Task Scheduler configuration)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

from runner.base.errors import InputError


def _scheduled(library: Any, name: str | None) -> list[tuple[str, Any, str | None]]:
    """(name, model or None, error) of NAME, or of every runbook with a schedule; an
    invalid runbook is listed with its error (when NAME is given, it is raised)."""
    from runner.base.errors import InvalidInput

    if name is not None:
        model = library.runbook(name)
        if not model.schedule:
            raise InputError(f"{model.name} has no schedule: (in {model.path})")
        return [(model.name, model, None)]
    out: list[tuple[str, Any, str | None]] = []
    for found in library.names("runbook"):
        try:
            model = library.runbook(found)
        except InvalidInput as error:
            count = len(error.errors)
            out.append((found, None, f"INVALID: {count} error{'' if count == 1 else 's'}"))
            continue
        if model.schedule:
            out.append((found, model, None))
    return out


def _after(text: str | None) -> datetime:
    """--after: an ISO 8601 moment (naive: UTC); default now."""
    if text is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(
            f"--after {text!r} is not a moment: write it as 2026-03-29T01:30 or "
            "2026-03-29T01:30+02:00"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def next_command(args: argparse.Namespace, library: Any) -> int:
    from runner.reports.schedule import render_next
    from runner.schedule.cron import CronSchedule

    after = _after(args.after)
    rows = []
    for name, model, error in _scheduled(library, args.name):
        times: list[datetime] = []
        if model is not None:
            schedule = CronSchedule(model.schedule, model.timezone)
            times = schedule.next_times(after, args.count)
        rows.append(
            {
                "runbook": name,
                "path": model.path if model is not None else None,
                "schedule": model.schedule if model is not None else None,
                "timezone": (model.timezone or "UTC") if model is not None else None,
                "times": times,
                "error": error,
            }
        )
    text = render_next(rows, after, args.count, args.format)
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0
