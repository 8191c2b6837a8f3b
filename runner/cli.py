"""The `runbook` command line. The one place that prints errors and chooses exit codes.

Exit codes of `run` follow Nagios: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (the runbook
could not be evaluated: invalid file, bad --param, template error). `validate`
exits 0 when every file is valid and 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path
from typing import Any

from runner.base.errors import ABORT_REQUESTED, EXIT_UNKNOWN, Aborted, InvalidInput, RunbookError

__version__ = "0.1.0"

DESCRIPTION = """\
Run operations runbooks written in YAML: ordered SQL, HTTP and command steps with
warning/critical thresholds, retries, run history and Nagios-style exit codes.

exit codes of `runbook run`: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (the runbook
could not be evaluated: invalid file, missing or wrong --param, template error).
"""

EPILOG = """\
examples:
  runbook run order-health                      the morning health check
  runbook run order-health --param stale_minutes=90 --format nagios
  runbook run order-health --dry-run            show every statement, run nothing
  runbook validate                              check every configured runbook
  runbook validate runbooks/ --format github    annotations for GitHub Actions
  runbook history order-health                  the last runs and their status
  runbook notify-test ops                       send a test message to every service tagged ops
"""


class _Parser(argparse.ArgumentParser):
    """Usage errors exit 3 (UNKNOWN), not argparse's 2, which would read as CRITICAL."""

    def error(self, message: str) -> Any:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_UNKNOWN, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="runbook",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"runbook {__version__}")
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="runner.yaml to use (default: $RUNBOOK_CONFIG, or runner.yaml here or above)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def command(name: str, text: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=text, description=text)

    command("list", "list the runbooks this configuration can run").add_argument(
        "--format", choices=("text", "json"), default="text"
    )

    show = command("show", "describe a runbook: inputs, steps, thresholds, hints")
    show.add_argument("name", help="runbook name or path to its YAML file")
    show.add_argument("--format", choices=("text", "json"), default="text")

    run = command("run", "run a runbook by name (or path) and exit with its status")
    run.add_argument("name", help="runbook name or path to its YAML file")
    run.add_argument(
        "--param",
        "-p",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an input of the runbook; repeat for several",
    )
    mode = run.add_mutually_exclusive_group()
    mode.add_argument(
        "--dry-run",
        action="store_true",
        help="render every step (SQL with its bound values, HTTP requests) and run nothing",
    )
    mode.add_argument(
        "--rehearse",
        action="store_true",
        help="run the SQL in a transaction that is rolled back; skip HTTP calls other than GET",
    )
    run.add_argument(
        "--yes", "-y", action="store_true", help="confirm every step that asks for confirmation"
    )
    run.add_argument("--format", choices=("text", "json", "nagios"), default="text")
    run.add_argument(
        "--verbose",
        "-v",
        action="store_true",
        help="print each request, command and message to stderr as it is made",
    )
    run.add_argument(
        "--connection",
        action="append",
        default=[],
        metavar="NAME=OTHER",
        help="use connection OTHER wherever the runbook says NAME",
    )
    run.add_argument(
        "--trigger",
        default=None,
        help=(
            "why this run started, recorded in history "
            "(default: $RUNBOOK_TRIGGER, else manual; from cron: --trigger schedule)"
        ),
    )
    run.add_argument("--color", choices=("auto", "always", "never"), default="auto")

    validate = command("validate", "check runbooks and checks; exit 1 when anything is wrong")
    validate.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="files or folders (default: the configured runbooks and checks)",
    )
    validate.add_argument("--format", choices=("text", "json", "github"), default="text")

    history = command("history", "list recorded runs, newest first")
    history.add_argument("name", nargs="?", help="only runs of this runbook")
    history.add_argument(
        "--run", metavar="ID", help="show one run with its steps (an id prefix is enough)"
    )
    history.add_argument("--limit", type=int, default=20)
    history.add_argument("--format", choices=("text", "json"), default="text")

    notify_test = command(
        "notify-test",
        "send a test message to the services of a tag; exit 1 when any did not take it",
    )
    notify_test.add_argument("tag", metavar="TAG", help="an Apprise tag, or several: ops,oncall")
    notify_test.add_argument("--format", choices=("text", "json"), default="text")

    status = command(
        "status", "each runbook's last run and open alert; exits with the worst status"
    )
    status.add_argument("--format", choices=("text", "json"), default="text")

    schema = command("schema", "print a JSON Schema (for editors and CI)")
    schema.add_argument(
        "kind", nargs="?", choices=("runbook", "check", "runner"), default="runbook"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return EXIT_UNKNOWN
    try:
        return int(_COMMANDS[args.command](args) or 0)
    except InvalidInput as error:
        print(error.format_message(), file=sys.stderr)
        print(f"{_count(len(error.errors), 'error')}: nothing was run", file=sys.stderr)
        return error.exit_code
    except RunbookError as error:
        print(f"runbook: {error.format_message()}", file=sys.stderr)
        return error.exit_code
    except (KeyboardInterrupt, Aborted):
        print("runbook: interrupted", file=sys.stderr)
        return EXIT_UNKNOWN
    except BrokenPipeError:
        return 0


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _library(args: argparse.Namespace) -> Any:
    from runner.language.config import load_config

    return _library_of(load_config(args.config))


def _library_of(config: Any) -> Any:
    from runner.language.library import Library
    from runner.notifiers.services import known_tags
    from runner.steps import STEP_TYPES

    return Library(config, STEP_TYPES, tags=known_tags)


def _emit(text: str) -> None:
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


def _cmd_list(args: argparse.Namespace) -> int:
    from runner.base.paths import display_path
    from runner.reports import render as report

    library = _library(args)
    rows = []
    for name in library.names("runbook"):
        path = library.path_of("runbook", name)
        try:
            model = library.load(path)
            rows.append(
                {
                    "name": name,
                    "kind": model.kind,
                    "title": model.title,
                    "schedule": model.schedule,
                    "tags": list(model.tags),
                    "path": display_path(path),
                }
            )
        except InvalidInput as error:
            rows.append(
                {
                    "name": name,
                    "kind": "?",
                    "title": f"INVALID: {_count(len(error.errors), 'error')} (runbook validate)",
                    "schedule": None,
                    "tags": [],
                    "path": display_path(path),
                }
            )
    _emit(report.render_runbook_list(rows, args.format))
    return 0


def _cmd_show(args: argparse.Namespace) -> int:
    from runner.reports import render as report

    model = _library(args).runbook(args.name)
    info = {
        "name": model.name,
        "title": model.title,
        "kind": model.kind,
        "description": model.description,
        "tags": list(model.tags),
        "schedule": model.schedule,
        "timezone": model.timezone,
        "connection": model.connection,
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


def _on_sigterm(signum: int, frame: Any) -> None:
    ABORT_REQUESTED.set()
    raise Aborted()


def _on_sigint(signum: int, frame: Any) -> None:
    ABORT_REQUESTED.set()
    raise KeyboardInterrupt()


def _cmd_run(args: argparse.Namespace) -> int:
    from runner.engine.walker import Engine, Options
    from runner.history.store import open_store
    from runner.language.inputs import parse_params
    from runner.reports import render as report

    library = _library(args)
    runbook = library.runbook(args.name)
    params = parse_params(args.param)
    overrides = {}
    for pair in args.connection:
        name, sep, other = pair.partition("=")
        if not sep:
            from runner.base.errors import InputError

            raise InputError(f"--connection {pair!r}: write --connection NAME=OTHER")
        overrides[name] = other
    mode = "dry-run" if args.dry_run else "rehearse" if args.rehearse else "run"
    trigger = args.trigger or os.environ.get("RUNBOOK_TRIGGER") or "manual"
    options = Options(
        mode=mode, assume_yes=args.yes, trigger=trigger, connection_overrides=overrides
    )
    if args.verbose:
        options.log = lambda message: print(message, file=sys.stderr, flush=True)
    state = open_store(library.config) if mode != "dry-run" else None
    try:
        engine = Engine(library, options, state)
        # Broken notification settings refuse the run before it starts (fail fast);
        # a notifier that fails later only costs recorded delivery failures.
        notifier = _run_notifier(engine, runbook, mode)
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
        previous_int = signal.signal(signal.SIGINT, _on_sigint)
        try:
            result = engine.run(runbook, params)
        finally:
            signal.signal(signal.SIGTERM, previous)
            signal.signal(signal.SIGINT, previous_int)
        if state is not None:  # recorded by the engine; now announce, then report
            from runner.alerts.announce import announce
            from runner.notifiers.deliver import shown_deliveries

            if notifier is not None:
                announce(result, runbook, library.config, state, notifier)
            result.notifications = shown_deliveries(state.deliveries(result.run_id))
    finally:
        if state is not None:
            state.close()
    color = args.color == "always" or (
        args.color == "auto" and sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    )
    _emit(report.render_run(result, args.format, color=color))
    return result.exit_code


def _run_notifier(engine: Any, runbook: Any, mode: str) -> Any:
    """The notifier a real run announces through; None when it has nothing to tell anyone."""
    if mode != "run":
        return None
    from runner.alerts.announce import routes_anything
    from runner.notifiers.deliver import notifier_for

    sends = any(step.action == "notify" for step in runbook.all_steps())
    if not (sends or routes_anything(runbook, engine.config)):
        return None
    return notifier_for(engine)


def _cmd_notify_test(args: argparse.Namespace) -> int:
    from runner.base.errors import ConfigError, NotFound
    from runner.base.masking import Masker
    from runner.history.store import open_store
    from runner.language.config import load_config
    from runner.language.policy import tag_list
    from runner.notifiers.deliver import deliver, shown_deliveries, test_message
    from runner.notifiers.services import load_notifier, settings
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


def _cmd_validate(args: argparse.Namespace) -> int:
    from runner.language import sqlcheck
    from runner.language.config import load_config
    from runner.language.library import yaml_files
    from runner.reports import render as report

    try:
        config = load_config(args.config)
    except InvalidInput as error:
        _emit(report.render_problems(error.problems, args.format, checked_files=1))
        return 1
    library = _library_of(config)
    roots = [Path(p) for p in args.paths] or [*config.runbook_dirs, *config.check_dirs]
    problems = []
    files: list[Path] = []
    for root in roots:
        if not root.exists():
            from runner.base.errors import Problem

            problems.append(Problem("no such file or folder", str(root)))
            continue
        files.extend(yaml_files(root))
    with sqlcheck.checking():  # SQL syntax per dialect: validate only, runs leave it to the server
        for path in dict.fromkeys(files):
            problems.extend(library.problems(path))
    _emit(report.render_problems(problems, args.format, checked_files=len(files)))
    return 1 if any(p.severity == "error" for p in problems) else 0


def _cmd_history(args: argparse.Namespace) -> int:
    from runner.history.store import open_store
    from runner.language.config import load_config
    from runner.reports import render as report

    config = load_config(args.config)
    store = open_store(config)
    try:
        if args.run:
            found = store.get_run(args.run)
            if found is None:
                from runner.base.errors import NotFound

                raise NotFound(f"no run with id {args.run!r} in {store.display}")
            if args.format == "json":
                import json

                _emit(json.dumps(found, indent=2, default=str))
            else:
                from runner.language.results import run_from_dict

                _emit(report.render_run(run_from_dict(found), "text"))
            return 0
        _emit(report.render_history(store.history(args.name, limit=args.limit), args.format))
    finally:
        store.close()
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    from runner.base.status import Status, worst
    from runner.history.store import open_store
    from runner.reports import render as report

    library = _library(args)
    store = open_store(library.config)
    rows = []
    try:
        open_alerts = {
            alert["runbook"]: alert
            for alert in store.alert_states()
            if alert.get("announced") and not alert.get("subject")
        }
        for name in library.names("runbook"):
            last = store.last_run(name) or {}
            alert = open_alerts.get(name)
            path = library.path_of("runbook", name)
            try:
                schedule = library.load(path).schedule if path else None
            except InvalidInput:  # still listed: its history may say more than its file
                schedule = None
            rows.append(
                {
                    "runbook": name,
                    "status": last.get("status"),
                    "run_id": last.get("run_id"),
                    "started": last.get("started"),
                    "duration": last.get("duration"),
                    "schedule": schedule,
                    "alert": f"{alert['announced']} announced" if alert else None,
                }
            )
    finally:
        store.close()
    order = {status.value: status.rank for status in Status}
    rows.sort(key=lambda row: (-order.get(row["status"] or "", -1), row["runbook"]))
    _emit(report.render_status(rows, args.format))
    statuses = [Status(row["status"]) for row in rows if row["status"]]
    return worst(statuses).exit_code


def _cmd_schema(args: argparse.Namespace) -> int:
    from runner.language import schema

    _emit(schema.schema_text(args.kind))
    return 0


_COMMANDS = {
    "list": _cmd_list,
    "show": _cmd_show,
    "run": _cmd_run,
    "validate": _cmd_validate,
    "history": _cmd_history,
    "status": _cmd_status,
    "schema": _cmd_schema,
    "notify-test": _cmd_notify_test,
}


if __name__ == "__main__":
    sys.exit(main())
