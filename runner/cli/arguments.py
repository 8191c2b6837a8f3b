"""The arguments of each `runbook` command, and the one-line help that names it: what
cli/parser.py adds to the parser of a command, also what shell completion offers
(cli/complete.py's completers are set on the arguments here)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from runner.cli import complete
from runner.demos import SYSTEMS as DEMO_SYSTEMS
from runner.reports.formats import PAGE_FORMATS, PROBLEM_FORMATS, RUN_FORMATS, STATUS_FORMATS

#: `runbook export TARGET` (runner/exports/__init__.py has their modules)
EXPORT_TARGETS = ("cron", "systemd", "kubernetes", "windows")

#: The least `--max-output` accepts: room for a status line and the marker of a cut.
MIN_OUTPUT = 100

SHELLS = ("bash", "zsh", "fish")

#: Where `runbook serve` listens unless told: this machine only (a reverse proxy in front).
DEFAULT_LISTEN = "127.0.0.1:8080"


def byte_count(text: str) -> int:
    """`--max-output`: a whole number of bytes, enough for a status line."""
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of bytes, got {text!r}") from None
    if number < MIN_OUTPUT:
        raise argparse.ArgumentTypeError(f"must be at least {MIN_OUTPUT} bytes, got {number}")
    return number


def _count(text: str) -> int:
    """`next -n`: how many run times, 1 to 1000."""
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 1 <= number <= 1000:
        raise argparse.ArgumentTypeError(f"must be from 1 to 1000, got {number}")
    return number


def _duration(text: str) -> float:
    """`--deadline`: a duration as in YAML (50s, 5m, 1h30m, or a number of seconds)."""
    from runner.base.durations import parse_duration

    try:
        return parse_duration(float(text) if text.strip().replace(".", "", 1).isdigit() else text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def listen_address(text: str) -> tuple[str, int]:
    """`serve --listen`, `scheduler --http`: ADDR:PORT ([ADDR]:PORT for IPv6), a port
    from 0 to 65535."""
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise argparse.ArgumentTypeError(
            f"expected ADDR:PORT such as {DEFAULT_LISTEN}, got {text!r}"
        )
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        number = int(port)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a port number after the colon, got {text!r}"
        ) from None
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"the port must be from 0 to 65535, got {number}")
    return host, number


def _complete_with(completer: Callable[..., list[str]], action: argparse.Action) -> None:
    """Shell completion of `action`'s values: argcomplete reads `completer` off the action."""
    action.completer = completer  # type: ignore[attr-defined]  # argcomplete's; not in stubs


def _runbook_name(sub: argparse.ArgumentParser, **kwargs: Any) -> None:
    _complete_with(complete.runbook_names, sub.add_argument("name", **kwargs))


def _list(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--format", choices=PAGE_FORMATS, default="text")


def _show(sub: argparse.ArgumentParser) -> None:
    _runbook_name(sub, help="runbook name or path to its YAML file")
    sub.add_argument("--format", choices=PAGE_FORMATS, default="text")


def _run(run: argparse.ArgumentParser) -> None:
    _runbook_name(run, help="runbook name or path to its YAML file")
    param = run.add_argument(
        "--param",
        "-p",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an input of the runbook; repeat for several",
    )
    _complete_with(complete.params, param)
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
    run.add_argument("--format", choices=RUN_FORMATS, default="text")
    run.add_argument(
        "--max-output",
        type=byte_count,
        default=None,
        metavar="BYTES",
        help="with --format nagios: at most this many bytes of output (default 4096)",
    )
    run.add_argument(
        "--all-items",
        action="store_true",
        help="list every for_each item (default: counts, the bad items, 'and N more OK')",
    )
    run.add_argument(
        "--verbose",
        "-v",
        action="store_true",
        help="print each request, command and message to stderr as it is made",
    )
    connection = run.add_argument(
        "--connection",
        action="append",
        default=[],
        metavar="NAME=OTHER",
        help="use connection OTHER wherever the runbook says NAME",
    )
    _complete_with(complete.connection_swaps, connection)
    run.add_argument(
        "--trigger",
        default=None,
        help=(
            "why this run started, recorded in history "
            "(default: $RUNBOOK_TRIGGER, else manual; from cron: --trigger schedule)"
        ),
    )
    run.add_argument(
        "--deadline",
        type=_duration,
        default=None,
        metavar="DURATION",
        help="the longest the whole run may take, such as 50s (0: no limit); then the running "
        "step is cancelled and the run ends UNKNOWN (default: the runbook's deadline:)",
    )
    run.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    run.add_argument(
        "--skipped-status",
        choices=("last", "ok"),
        default="last",
        help="when another run of the runbook is still going and this one is skipped: report "
        "the last finished run's status (default: no false recovery) or OK",
    )


def _validate(validate: argparse.ArgumentParser) -> None:
    validate.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="files or folders (default: the configured runbooks and checks)",
    )
    validate.add_argument("--format", choices=PROBLEM_FORMATS, default="text")


def _history(history: argparse.ArgumentParser) -> None:
    _runbook_name(history, nargs="?", help="only runs of this runbook")
    history.add_argument(
        "--run", metavar="ID", help="show one run with its steps (an id prefix is enough)"
    )
    history.add_argument(
        "--all-items",
        action="store_true",
        help="with --run: list every for_each item that was stored",
    )
    history.add_argument("--limit", type=int, default=20)
    history.add_argument(
        "--value",
        action="append",
        default=[],
        metavar="STEP.NAME",
        help="add a column with this value of a step in each run (a value or a column of "
        "its first row, as thresholds name it), to read a trend; repeatable",
    )
    history.add_argument("--format", choices=PAGE_FORMATS, default="text")


def _prune(prune: argparse.ArgumentParser) -> None:
    prune.add_argument("--dry-run", action="store_true", help="say what would go; remove nothing")
    prune.add_argument("--format", choices=PAGE_FORMATS, default="text")


def _notify_test(notify_test: argparse.ArgumentParser) -> None:
    tag = notify_test.add_argument(
        "tag", metavar="TAG", help="an Apprise tag, or several: ops,oncall"
    )
    _complete_with(complete.tags, tag)
    notify_test.add_argument("--format", choices=PAGE_FORMATS, default="text")


def _status(status: argparse.ArgumentParser) -> None:
    status.add_argument("--format", choices=STATUS_FORMATS, default="text")


def _metrics(metrics: argparse.ArgumentParser) -> None:
    metrics.add_argument(
        "--textfile",
        metavar="PATH",
        help="write the metrics to PATH (a *.prom file in node_exporter's textfile "
        "collector folder), replacing it at once, instead of printing them",
    )


def _doctor(doctor: argparse.ArgumentParser) -> None:
    doctor.add_argument("--format", choices=PAGE_FORMATS, default="text")


def _next(upcoming: argparse.ArgumentParser) -> None:
    _runbook_name(upcoming, nargs="?", help="only this runbook (default: every scheduled one)")
    upcoming.add_argument(
        "-n", "--count", type=_count, default=5, metavar="N", help="how many (default 5)"
    )
    upcoming.add_argument(
        "--after",
        metavar="TIME",
        help="from this moment instead of now: ISO 8601, UTC unless it has an offset "
        "(2026-03-29T00:00, 2026-03-29T00:00+01:00)",
    )
    upcoming.add_argument("--format", choices=PAGE_FORMATS, default="text")


def _scheduler(scheduler: argparse.ArgumentParser) -> None:
    scheduler.add_argument(
        "--max-parallel",
        type=_count,
        metavar="N",
        help="runs going at once (default: runner.yaml's scheduler: max_parallel, else 4)",
    )
    scheduler.add_argument(
        "--grace",
        type=_duration,
        metavar="DURATION",
        help="on SIGTERM, how long running runs may go on before they are aborted "
        "(default: runner.yaml's scheduler: shutdown_grace, else 60s)",
    )
    scheduler.add_argument(
        "--once",
        action="store_true",
        help="run what is due now (the missed runs by catchup:, no jitter), wait for it "
        "and exit: to try a configuration, or to be started by another scheduler",
    )
    scheduler.add_argument(
        "--http",
        type=listen_address,
        nargs="?",
        const=listen_address(DEFAULT_LISTEN),
        metavar="ADDR:PORT",
        help="serve the dashboard and /metrics (as `runbook serve`) from this process while "
        f"it schedules, on ADDR:PORT (--http alone: {DEFAULT_LISTEN}, this machine only); "
        "they stop when the scheduler stops (default: no HTTP)",
    )


def _serve(serve: argparse.ArgumentParser) -> None:
    serve.add_argument(
        "--listen",
        type=listen_address,
        default=listen_address(DEFAULT_LISTEN),
        metavar="ADDR:PORT",
        help=f"where to listen (default {DEFAULT_LISTEN}: this machine only; give another "
        "address to be reached from elsewhere, better behind a reverse proxy)",
    )


def _export(export: argparse.ArgumentParser) -> None:
    export.add_argument("target", choices=EXPORT_TARGETS, help="the platform's scheduler")
    names = export.add_argument(
        "names", nargs="*", metavar="NAME", help="these runbooks (default: every scheduled one)"
    )
    _complete_with(complete.runbook_names, names)
    export.add_argument(
        "--output", "-o", metavar="DIR", help="write the files into DIR (default: stdout)"
    )
    export.add_argument(
        "--command",
        dest="runner_command",  # not `command`: that is the subcommand's name
        nargs="+",
        metavar="ARG",
        help="how the scheduler starts the runner (default: this runner's `runbook`, "
        "by its absolute path)",
    )
    export.add_argument(
        "--image", help="kubernetes: the runner's container image (default runbook-runner:latest)"
    )
    export.add_argument(
        "--secret",
        help="kubernetes: the Secret holding runner.yaml's ${VAR}s, the state store's "
        "first (default runbook-secrets)",
    )


def _schema(schema: argparse.ArgumentParser) -> None:
    schema.add_argument(
        "kind", nargs="?", choices=("runbook", "check", "runner"), default="runbook"
    )


def _demo(demo: argparse.ArgumentParser) -> None:
    demo_commands = demo.add_subparsers(dest="demo_command", metavar="ACTION", required=True)
    reset = demo_commands.add_parser(
        "reset",
        help="rebuild a demo from scratch (default: every demo)",
        description="Rebuild a demo from scratch: its database and every file its builder puts "
        "beside it, so a tried rollback or processing run can be tried again. The new demo is "
        "built whole first and then put in place; on failure the old one stays as it was.",
    )
    reset.add_argument(
        "name",
        nargs="?",
        help="the demo (orders) or its connection's name in runner.yaml (default: all demos)",
    )
    serve = demo_commands.add_parser(
        "serve",
        help="serve stand-ins of the EDI processor, the warehouse (WMS) and the returns "
        "service on 127.0.0.1 until Ctrl-C",
        description="Serve stand-ins of the systems of seeds 002-004 on 127.0.0.1, each on "
        "the port its seed names, until SIGTERM or Ctrl-C: the endpoints the runbooks under "
        "runbooks/edi, runbooks/wms and runbooks/returns check. --fault switches a demo "
        "into a failure its seed describes, so a troubleshooting runbook can be seen to "
        "fire; PUT /_demo/faults switches while it serves.",
    )
    serve.add_argument(
        "systems",
        nargs="+",
        metavar="SYSTEM",
        choices=(*DEMO_SYSTEMS, "all"),
        help=f"which to serve: {', '.join(DEMO_SYSTEMS)} or all",
    )
    serve.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="NAME",
        help="switch into this failure (repeatable; `runbook demo faults` lists them)",
    )
    serve.add_argument(
        "--listen",
        type=listen_address,
        help="where to listen, with one SYSTEM only (default: the port its seed names)",
    )
    demo_commands.add_parser(
        "faults",
        help="list each demo system's faults and what they do",
        description="List the failures each demo system can be switched into with "
        "`runbook demo serve SYSTEM --fault NAME`.",
    )


def _completion(completion: argparse.ArgumentParser) -> None:
    completion.add_argument("shell", choices=SHELLS, help="the shell to complete in")
    completion.epilog = complete.INSTALL
    completion.formatter_class = argparse.RawDescriptionHelpFormatter


#: Every command: its one-line help, and what adds its arguments to its parser.
COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None]]] = {
    "list": (
        "list the runbooks this configuration can run",
        _list,
    ),
    "show": (
        "describe a runbook: inputs, steps, thresholds, hints",
        _show,
    ),
    "run": (
        "run a runbook by name (or path) and exit with its status",
        _run,
    ),
    "validate": (
        "check runbooks and checks; exit 1 when anything is wrong",
        _validate,
    ),
    "history": (
        "list recorded runs, newest first",
        _history,
    ),
    "prune": (
        "remove runs older than `retention:` in runner.yaml (default 90 days, keeping the "
        "last 100 of each runbook), with their steps and deliveries",
        _prune,
    ),
    "notify-test": (
        "send a test message to the services of a tag; exit 1 when any did not take it",
        _notify_test,
    ),
    "status": (
        "each runbook's last run and open alert; exits with the worst status",
        _status,
    ),
    "metrics": (
        "print each runbook's last status, duration, runs and late flag, and each "
        "threshold's value and limits, as Prometheus metrics (--textfile for node_exporter)",
        _metrics,
    ),
    "doctor": (
        "check, as this user, what a scheduled run needs: config, var/ and the state "
        "store, connections, notification URLs, the clock; exit 1 with what to fix",
        _doctor,
    ),
    "next": (
        "list the next run times of each scheduled runbook, in its time zone and in UTC, "
        "to check a cron expression before it bites",
        _next,
    ),
    "export": (
        "write the schedules of runbooks as the platform's scheduler reads them: crontab "
        "lines, systemd units, Kubernetes CronJobs or Windows Task Scheduler tasks; what "
        "a target cannot express is said per runbook on stderr (exit 1 when one was not "
        "exported)",
        _export,
    ),
    "scheduler": (
        "run every runbook with a schedule: when it is due, in this process: a foreground "
        "daemon that logs on stderr, catches up the runs it missed (catchup:), picks up "
        "runbook files added, changed or removed, and stops on SIGTERM or Ctrl-C",
        _scheduler,
    ),
    "serve": (
        "serve the read-only web dashboard (every runbook's status, last and next run, LATE, "
        "its last 30 statuses; /api/runbooks as JSON; /metrics for Prometheus) until SIGTERM "
        "or Ctrl-C",
        _serve,
    ),
    "schema": (
        "print a JSON Schema (for editors and CI)",
        _schema,
    ),
    "demo": (
        "the demos: rebuild the embedded demo databases; serve stand-ins of the other "
        "seeds' systems",
        _demo,
    ),
    "completion": (
        "print the shell completion script: commands, options, runbook names, --param inputs",
        _completion,
    ),
}
