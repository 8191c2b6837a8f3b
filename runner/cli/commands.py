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
from typing import Any

from runner.base.errors import InputError, InvalidInput, Problem
from runner.base.masking import MASK
from runner.cli import signals
from runner.language.config import load_config
from runner.language.inputs import parse_params


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _library(args: argparse.Namespace) -> Any:
    from runner.language.config import load_config

    return _library_of(load_config(args.config))


def _library_of(config: Any, *, check_sql: bool = False) -> Any:
    from runner.language.library import Library
    from runner.steps import STEP_TYPES

    return Library(
        config, STEP_TYPES, tags=_known_tags, tag_files=_tag_files, check_sql=check_sql, cache=True
    )


def _known_tags(config: Any) -> frozenset[str] | None:
    from runner.notifiers.services import known_tags  # only when validation asks

    return known_tags(config)


def _tag_files(config: Any) -> tuple[Path, ...]:
    # only when a runbook is validated: a warm `list` or `status` validates none, and
    # the settings module (dataclasses, the notify policy) is 2% of its instructions
    from runner.notifiers.settings import tag_files

    return tag_files(config)


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
    from runner.language.library import listed_title
    from runner.language.scheduling import effective_grace
    from runner.language.worstcase import worst_case
    from runner.reports import render as report

    library = _library(args)
    model = library.runbook(args.name)
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
        "title": listed_title(model, library.config),  # as `runbook list` shows it
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
                # a secret's default is never shown, only that it has one (as the dashboard)
                "default": MASK if i.secret and i.default is not None else i.default,
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
    from runner.language.declared import yaml_files
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


def history_command(args: argparse.Namespace) -> int:
    from runner.cli.store import history_command as history

    return history(args, load_config(args.config))


def status_command(args: argparse.Namespace) -> int:
    from runner.cli.store import status_command as status

    return status(args, _library(args))


def metrics_command(args: argparse.Namespace) -> int:
    from runner.cli.store import metrics_command as metrics

    return metrics(args, _library(args))


def prune_command(args: argparse.Namespace) -> int:
    from runner.cli.store import prune_command as prune

    return prune(args, load_config(args.config))


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


def _sources(config: Any) -> Any:
    """What the dashboard reads: a fresh library for each page (a runbook file changed
    shows as it is now) and `runbook status`'s rows of it."""
    from runner.cli.store import status_rows
    from runner.web.overview import Sources

    return Sources(library=lambda: _library_of(config), status_rows=status_rows)


def scheduler_command(args: argparse.Namespace) -> int:
    from runner.cli.daemon import scheduler_command as schedule

    config = load_config(args.config)
    if args.http is None:
        return schedule(args, config)
    from runner.web.server import serving

    host, port = args.http
    with serving(_sources(config), host, port):  # the dashboard while it schedules
        return schedule(args, config)


def serve_command(args: argparse.Namespace) -> int:
    from runner.web.server import serve

    host, port = args.listen
    serve(_sources(load_config(args.config)), host, port)
    return 0


def demo_command(args: argparse.Namespace) -> int:
    from runner.cli import demo

    if args.demo_command == "serve":
        return demo.serve_command(args)
    if args.demo_command == "faults":
        return demo.faults_command(args)
    return demo.demo_command(args)


COMMANDS = {
    "list": list_command,
    "show": show_command,
    "run": run_command,
    "validate": validate_command,
    "history": history_command,
    "status": status_command,
    "metrics": metrics_command,
    "prune": prune_command,
    "schema": schema_command,
    "notify-test": notify_test_command,
    "doctor": doctor_command,
    "demo": demo_command,
    "next": next_command,
    "export": export_command,
    "scheduler": scheduler_command,
    "serve": serve_command,
}
