"""The commands of `runbook`: each parses nothing and prints nothing but its result.

A command reads its arguments, calls one operation (the run service, the library, the
state store, the reports) and emits what the reports rendered. Errors are raised, never
printed here: runner/cli/main.py is the one place that catches and chooses the exit code.
Heavy modules are imported inside the commands that need them, so `runbook --help` and
`runbook validate` stay fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runner.base.errors import InputError, InvalidInput, Problem
from runner.cli import signals
from runner.language.config import load_config
from runner.language.inputs import parse_params

if TYPE_CHECKING:
    from datetime import datetime


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _library(args: argparse.Namespace) -> Any:
    from runner.language.config import load_config

    return _library_of(load_config(args.config))


def _library_of(config: Any, *, check_sql: bool = False) -> Any:
    from runner.language.library import Library
    from runner.notifiers.settings import tag_files
    from runner.steps import STEP_TYPES

    return Library(
        config, STEP_TYPES, tags=_known_tags, tag_files=tag_files, check_sql=check_sql, cache=True
    )


def _known_tags(config: Any) -> frozenset[str] | None:
    from runner.notifiers.services import known_tags  # only when validation asks

    return known_tags(config)


def _emit(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


def list_command(args: argparse.Namespace) -> int:
    from runner.base.paths import display_path
    from runner.reports import render as report

    library = _library(args)
    rows = []
    for name in library.names("runbook"):
        path = library.path_of("runbook", name)
        info, errors = library.summary(path)  # from var/cache when the file is unchanged
        if library.duplicate_problem("runbook", name, path) is not None:
            errors += 1
        if not errors:
            shown = {key: value for key, value in info.items() if key != "timing"}
            rows.append({**shown, "name": name, "path": display_path(path)})
        else:
            rows.append(
                {
                    "name": name,
                    "kind": "?",
                    "title": f"INVALID: {_count(errors, 'error')} (runbook validate)",
                    "schedule": None,
                    "tags": [],
                    "path": display_path(path),
                }
            )
    library.save_cache()
    _emit(report.render_runbook_list(rows, args.format))
    return 0


def show_command(args: argparse.Namespace) -> int:
    from runner.language.scheduling import effective_grace
    from runner.language.worstcase import worst_case
    from runner.reports import render as report

    model = _library(args).runbook(args.name)
    worst = worst_case(model)
    scheduling = None
    if model.schedule:
        scheduling = {
            "jitter": model.jitter,
            "catchup": model.catchup,
            "catchup_window": model.catchup_window,
            "grace": effective_grace(model),
        }
    info = {
        "name": model.name,
        "title": model.title,
        "kind": model.kind,
        "description": model.description,
        "tags": list(model.tags),
        "schedule": model.schedule,
        "timezone": (model.timezone or "UTC") if model.schedule else model.timezone,
        "scheduling": scheduling,
        "connection": model.connection,
        "deadline": model.deadline or None,
        "worst_case": {"seconds": worst.seconds, "at_least": worst.at_least, "text": worst.shown},
        "path": model.path,
        "notify": dict(model.notify or {}),
        "inputs": [
            {
                "name": i.name,
                "type": i.type,
                "default": i.default,
                "required": i.required,
                "description": i.description,
            }
            for i in model.inputs
        ],
        "steps": [_step_info(step) for step in model.steps],
    }
    _emit(report.render_runbook_detail(info, args.format))
    return 0


def _step_info(step: Any) -> dict[str, Any]:
    return {
        "id": step.id,
        "title": step.title,
        "action": step.action,
        "hint": step.hint,
        "target": step.target,
        "thresholds": [
            {"name": t.name, "warning": t.warning, "critical": t.critical, "direction": t.direction}
            for t in step.thresholds
        ],
        "steps": [_step_info(s) for s in step.steps],
    }


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _quiet(message: str) -> None:
    """`run` without --verbose: stderr stays quiet for schedulers and Nagios."""


def run_command(args: argparse.Namespace) -> int:
    from runner.service.runs import RunRequest, RunService

    overrides = {}
    for pair in args.connection:
        name, sep, other = pair.partition("=")
        if not sep:
            raise InputError(f"--connection {pair!r}: write --connection NAME=OTHER")
        overrides[name] = other
    request = RunRequest(
        runbook=args.name,
        params=parse_params(args.param),
        mode=_mode(args),
        assume_yes=args.yes,
        trigger=_trigger(args),
        connections=overrides,
        skipped_status=args.skipped_status,
        deadline=args.deadline,
        all_items=args.all_items,
    )
    config = load_config(args.config)
    if args.format == "text" and not args.verbose and sys.stdout.isatty():
        # A live line for a run that takes more than a second; cleared before the report.
        from runner.reports.progress import LiveProgress

        live = LiveProgress(sys.stdout)
        service = RunService(config, log=_quiet, progress=live, ask=live.pausing(input))
        with signals.aborting() as abort, live:
            result = service.run(request, abort=abort)
    else:
        service = RunService(config, log=_progress if args.verbose else _quiet)
        with signals.aborting() as abort:
            result = service.run(request, abort=abort)
    color = args.color == "always" or (
        args.color == "auto" and sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    )
    from runner.reports import render as report

    answer = report.render_run(
        result, args.format, color=color, max_output=args.max_output, all_items=args.all_items
    )
    _emit(answer)
    return result.exit_code


def _mode(args: argparse.Namespace) -> str:
    return "dry-run" if args.dry_run else "rehearse" if args.rehearse else "run"


def _trigger(args: argparse.Namespace) -> str:
    return str(args.trigger or os.environ.get("RUNBOOK_TRIGGER") or "manual")


def error_answer(args: argparse.Namespace, error: BaseException) -> str | None:
    """What a command that promises an answer on stdout prints when `error` stopped it:
    `run` answers UNKNOWN in its --format (a monitor reads stdout, never stderr); the
    other commands answer nothing (their message on stderr says it)."""
    if args.command != "run":
        return None
    from runner.reports import render as report

    return report.render_run_error(
        args.name,
        error,
        args.format,
        mode=_mode(args),
        trigger=_trigger(args),
        max_output=args.max_output,
    )


def notify_test_command(args: argparse.Namespace) -> int:
    from runner.base.errors import ConfigError, NotFound
    from runner.base.masking import Masker
    from runner.history.store import open_store
    from runner.language.config import load_config
    from runner.language.policy import tag_list
    from runner.notifiers.deliver import deliver, shown_deliveries, test_message
    from runner.notifiers.services import load_notifier
    from runner.notifiers.settings import settings
    from runner.reports import render as report

    config = load_config(args.config)
    if not settings(config).configured:
        raise ConfigError(
            f"{config.display_path}: no notifications are configured: add "
            "notifications.urls (tag: [apprise URL, ...]) or notifications.apprise (a file)"
        )
    masker = Masker()
    masker.add_env(os.environ)
    notifier = load_notifier(config, masker)
    tags = tag_list(args.tag)
    unknown = [tag for tag in tags if tag not in notifier.tags]
    if unknown or not tags:
        known = ", ".join(sorted(notifier.tags)) or "none"
        raise NotFound(
            f"no notification service is tagged {', '.join(unknown)}; known tags: {known}"
        )
    deliveries = deliver(test_message(tags), notifier, run_id=None, runbook=None)
    try:
        with open_store(config, masker) as store:
            store.record_deliveries(deliveries)
    except (ConfigError, OSError) as error:
        print(f"runbook: the test was not recorded in history: {error}", file=sys.stderr)
    _emit(report.render_deliveries(shown_deliveries(deliveries), args.format))
    return 0 if all(item["ok"] for item in deliveries) else 1


def validate_command(args: argparse.Namespace) -> int:
    from runner.language.config import load_config
    from runner.language.library import yaml_files
    from runner.reports import render as report

    try:
        config = load_config(args.config)
    except InvalidInput as error:
        _emit(report.render_problems(error.problems, args.format, checked_files=1))
        return 1
    library = _library_of(config, check_sql=True)  # SQL syntax per dialect too
    named = [Path(p) for p in args.paths]
    roots = named or [*config.runbook_dirs, *config.check_dirs]
    problems = []
    files: list[Path] = []
    for root in roots:
        found = yaml_files(root)
        if not root.exists() and not named:
            continue  # a configured folder not made yet (checks/): nothing in it to check
        if not root.exists():
            problems.append(Problem("no such file or folder", str(root)))
        elif not (root.is_file() or root.is_dir()):
            problems.append(Problem("not a file or folder", str(root)))
        elif named and not found:  # "0 files valid" would read as a pass in CI
            problems.append(Problem("no runbook or check files (*.yaml, *.yml) here", str(root)))
        files.extend(found)
    if not named and not files:
        folders = ", ".join(str(root) for root in roots) or "no folder"
        problems.append(
            Problem(
                f"no runbook or check files (*.yaml, *.yml) in {folders}",
                config.display_path,
                hint="set `runbooks:` in runner.yaml to the folders that hold them",
            )
        )
    for path in dict.fromkeys(files):
        problems.extend(library.problems(path))
    _emit(report.render_problems(problems, args.format, checked_files=len(files)))
    return 1 if any(p.severity == "error" for p in problems) else 0


_MAX_LIMIT = 2**63 - 1


def history_command(args: argparse.Namespace) -> int:
    from runner.history.store import open_store
    from runner.language.config import load_config
    from runner.reports import render as report

    if args.limit > _MAX_LIMIT:
        from runner.base.errors import InputError

        raise InputError(
            f"--limit must be at most {_MAX_LIMIT} (the largest number the state store "
            f"takes), got {args.limit}"
        )
    config = load_config(args.config)
    store = open_store(config)
    try:
        _reconcile(store)
        if args.run:
            found = store.get_run(args.run)
            if found is None:
                from runner.base.errors import NotFound

                raise NotFound(f"no run with id {args.run!r} in {store.display}")
            if args.format == "json":
                _emit(report.render_recorded_run_json(found, all_items=args.all_items))
            else:
                from runner.language.results import run_from_dict

                _emit(report.render_run(run_from_dict(found), "text", all_items=args.all_items))
            return 0
        rows = store.history(args.name, limit=args.limit)
        if args.value:
            from runner.reports.trend import add_values, value_names

            names = value_names(args.value)
            steps = sorted({step for step, _ in names})
            add_values(rows, names, store.step_values([r["run_id"] for r in rows], steps))
        _emit(report.render_history(rows, args.format))
    finally:
        store.close()
    return 0


def prune_command(args: argparse.Namespace) -> int:
    from msgspec.structs import asdict

    from runner.history.store import open_store
    from runner.reports.prune import render_prune

    config = load_config(args.config)
    retention = config.retention
    with open_store(config) as store:
        pruned = store.prune(retention.days, retention.keep, dry_run=args.dry_run)
        if not args.dry_run:
            store.maintenance_done("prune")
        where = store.display
    answer = {
        **asdict(pruned),
        "days": retention.days,
        "keep": retention.keep,
        "dry_run": args.dry_run,
        "store": where,
    }
    answer.pop("complete")
    _emit(render_prune(answer, args.format))
    return 0


def _reconcile(store: Any) -> None:
    """Runs whose process died are marked abandoned first (history/reconcile.py); a
    store this user cannot write is still read, with a line saying so."""
    try:
        store.reconcile()
    except Exception as error:
        print(f"runbook: runs that died were not reconciled: {error}", file=sys.stderr)


def status_command(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from runner.base.status import Status, worst
    from runner.history.store import open_store
    from runner.reports import render as report

    library = _library(args)
    store = open_store(library.config)
    now = datetime.now(UTC)
    rows = []
    try:
        _reconcile(store)
        open_alerts = {
            alert["runbook"]: alert
            for alert in store.alert_states()
            if alert.get("announced") and not alert.get("subject")
        }
        # one query for every runbook: its last finished run, and late detection's newest
        # run (running ones too)
        last_runs, newest = store.last_runs()
        slots = _DueSlots(now, library.cache.folder if library.cache is not None else None)
        for name in library.names("runbook"):
            last = last_runs.get(name) or {}
            alert = open_alerts.get(name)
            path = library.path_of("runbook", name)
            # from var/cache when unchanged; an invalid file is still listed: its
            # history may say more than its file
            info, errors = library.summary(path) if path else ({}, 1)
            schedule = info.get("schedule") if not errors else None
            timing = info.get("timing")
            late = (
                slots.late(schedule, timing, newest.get(name), path)
                if schedule and timing
                else None
            )
            rows.append(
                {
                    "runbook": name,
                    "status": last.get("status"),
                    "run_id": last.get("run_id"),
                    "started": last.get("started"),
                    "duration": last.get("duration"),
                    "schedule": schedule,
                    "alert": f"{alert['announced']} announced" if alert else None,
                    "outcome": last.get("outcome"),
                    "late": late,
                }
            )
    finally:
        store.close()
    library.save_cache()
    slots.save()
    order = {status.value: status.rank for status in Status}
    # a late runbook ranks as CRITICAL: the run that should have happened did not
    critical = Status.CRITICAL.rank
    rows.sort(
        key=lambda row: (
            -max(order.get(row["status"] or "", -1), critical if row["late"] else -1),
            row["runbook"],
        )
    )
    _emit(report.render_status(rows, args.format))
    statuses = [Status(row["status"]) for row in rows if row["status"]]
    statuses += [Status.CRITICAL for row in rows if row["late"]]
    return worst(statuses).exit_code


class _DueSlots:
    """Late detection for `runbook status` (schedule/lateness.py) at one moment: the due
    slot of each (schedule, zone, grace) is worked out once. It is kept in var/cache
    with the fire time after it, and taken from there until that one is due: croniter
    (a sixth of the time of `status` just to import) is then not loaded at all."""

    def __init__(self, now: datetime, folder: Path | None) -> None:
        import json

        self.now = now
        self.path = folder / "due-slots.json" if folder is not None else None
        self._slots: dict[str, datetime | None] = {}
        self._kept: dict[str, list[str | None]] = {}
        self._changed = False
        if self.path is not None:
            try:
                kept = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                kept = {}
            self._kept = kept if isinstance(kept, dict) else {}

    def late(
        self,
        schedule: str,
        timing: dict[str, Any],
        newest: tuple[datetime, bool] | None,
        path: Path | None,
    ) -> dict[str, Any] | None:
        """The `late` object of a scheduled runbook, None when it is on time. One that
        never ran is not late for slots before its file was last written."""
        from contextlib import suppress
        from datetime import UTC, datetime

        from runner.schedule.lateness import judge

        grace = float(timing["grace"])
        key = f"{schedule}\0{timing.get('timezone')}\0{grace!r}"
        if key not in self._slots:
            self._slots[key] = self._due(key, schedule, timing.get("timezone"), grace)
        since = None
        if newest is None and path is not None:
            with suppress(OSError):
                since = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        found = judge(self._slots[key], grace, newest, since)
        return found.as_dict() if found is not None else None

    def _due(self, key: str, schedule: str, timezone: str | None, grace: float) -> datetime | None:
        from datetime import datetime, timedelta

        moment = self.now - timedelta(seconds=grace)
        kept = self._kept.get(key)
        if isinstance(kept, list) and len(kept) == 2 and all(isinstance(v, str) for v in kept):
            due, after = (datetime.fromisoformat(str(value)) for value in kept)
            if due <= moment < after:  # the next fire time is not due yet
                return due
        from runner.schedule.cron import CronSchedule, ScheduleError
        from runner.schedule.lateness import due_slot

        try:
            cron = CronSchedule(schedule, timezone)
        except ScheduleError:
            return None  # `runbook validate` says why
        found = due_slot(cron, grace, self.now)
        upcoming = cron.next_times(moment, 1)
        if found is not None and upcoming:
            self._kept[key] = [found.isoformat(), upcoming[0].isoformat()]
            self._changed = True
        return found

    def save(self) -> None:
        """Keep what was worked out (best effort: a cache that cannot be written is
        worked out again next time)."""
        import json
        import tempfile

        if self.path is None or not self._changed:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(
                "w", dir=self.path.parent, delete=False, suffix=".tmp", encoding="utf-8"
            ) as out:
                json.dump(self._kept, out)
            os.replace(out.name, self.path)
        except OSError:
            return


def doctor_command(args: argparse.Namespace) -> int:
    from runner.reports.doctor import render_doctor
    from runner.service.doctor import diagnose

    diagnosis = diagnose(args.config)
    _emit(render_doctor([finding.as_dict() for finding in diagnosis.findings], args.format))
    return 0 if diagnosis.ok else 1


def schema_command(args: argparse.Namespace) -> int:
    from runner.language import schema

    _emit(schema.schema_text(args.kind))
    return 0


def next_command(args: argparse.Namespace) -> int:
    from runner.cli.schedules import next_command as upcoming

    return upcoming(args, _library(args))


def export_command(args: argparse.Namespace) -> int:
    from runner.cli.schedules import export_command as export

    return export(args, _library(args))


def scheduler_command(args: argparse.Namespace) -> int:
    from runner.cli.daemon import scheduler_command as serve

    return serve(args, load_config(args.config))


def demo_command(args: argparse.Namespace) -> int:
    from runner.cli.demo import demo_command as reset

    return reset(args)


COMMANDS = {
    "list": list_command,
    "show": show_command,
    "run": run_command,
    "validate": validate_command,
    "history": history_command,
    "status": status_command,
    "prune": prune_command,
    "schema": schema_command,
    "notify-test": notify_test_command,
    "doctor": doctor_command,
    "demo": demo_command,
    "next": next_command,
    "export": export_command,
    "scheduler": scheduler_command,
}
