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


def export_command(args: argparse.Namespace, library: Any) -> int:
    """Write the schedules as TARGET's configuration: files under --output (or on
    stdout), what could not be expressed on stderr, per runbook; exit 1 when a runbook
    was not exported."""
    from importlib import import_module
    from pathlib import Path

    from runner.exports import TARGETS
    from runner.exports.plan import Note, Options, jobs_of, runner_command

    models, refused = [], []
    if args.names:
        for name in args.names:
            model = library.runbook(name)
            if model.schedule:
                models.append(model)
            else:
                refused.append(Note(model.name, "it has no schedule:", refused=True))
    else:
        for name, model, error in _scheduled(library, None):
            if model is None:
                refused.append(Note(name, f"{error} (runbook validate)", refused=True))
            else:
                models.append(model)
    jobs, unreadable = jobs_of(models, library.config)
    command = tuple(args.runner_command) if args.runner_command else runner_command()
    options = Options.of(library.config, command, args.image, args.secret)
    module, function = TARGETS[args.target].split(":")
    exported = getattr(import_module(module), function)(jobs, options)
    if args.output:
        folder = Path(args.output)
        folder.mkdir(parents=True, exist_ok=True)
        for name, text in exported.files.items():
            path = folder / name
            if name.endswith(".xml"):  # Task Scheduler reads UTF-16 with its byte order mark
                path.write_bytes(text.encode("utf-16"))
            else:
                path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    else:
        several = len(exported.files) > 1
        for name, text in exported.files.items():
            if name.endswith(".xml"):
                text = text.replace('encoding="UTF-16"', 'encoding="UTF-8"', 1)
            if several:
                print(f"# ==> {name} <==")
            sys.stdout.write(text)
    notes = [*refused, *unreadable, *exported.notes]
    for note in notes:
        print(f"runbook export {args.target}: {note.format()}", file=sys.stderr)
    return 1 if any(note.refused for note in notes) else 0
