"""The `runbook` command line's arguments: one argparse parser, also the source of the
shell completion scripts (`runbook completion bash|zsh|fish`)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from runner import __version__
from runner.base.errors import EXIT_UNKNOWN
from runner.cli import complete
from runner.reports.formats import PAGE_FORMATS, PROBLEM_FORMATS, RUN_FORMATS

DESCRIPTION = """\
Run operations runbooks written in YAML: ordered SQL, HTTP and command steps with
warning/critical thresholds, retries, run history and Nagios-style exit codes.

exit codes of `runbook run`: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (the runbook
could not be evaluated: invalid file, missing or wrong --param, template error).
"""

#: The least `--max-output` accepts: room for a status line and the marker of a cut.
MIN_OUTPUT = 100

EPILOG = """\
examples:
  runbook run order-health                      the morning health check
  runbook run order-health --param stale_minutes=90 --format nagios
  runbook run order-health --dry-run            show every statement, run nothing
  runbook validate                              check every configured runbook
  runbook validate runbooks/ --format github    annotations for GitHub Actions
  runbook history order-health                  the last runs and their status
  runbook prune --dry-run                       which old runs retention would remove
  runbook doctor                                as the scheduler's user: what would fail
  runbook notify-test ops                       send a test message to every service tagged ops
  runbook completion bash > ~/.local/share/bash-completion/completions/runbook
"""

SHELLS = ("bash", "zsh", "fish")


class _Parser(argparse.ArgumentParser):
    """Usage errors exit 3 (UNKNOWN), not argparse's 2, which would read as CRITICAL."""

    def error(self, message: str) -> Any:
        self.print_usage(sys.stderr)
        self.exit(EXIT_UNKNOWN, f"{self.prog}: error: {message}\n")


def _byte_count(text: str) -> int:
    """`--max-output`: a whole number of bytes, enough for a status line."""
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of bytes, got {text!r}") from None
    if number < MIN_OUTPUT:
        raise argparse.ArgumentTypeError(f"must be at least {MIN_OUTPUT} bytes, got {number}")
    return number


def _duration(text: str) -> float:
    """`--deadline`: a duration as in YAML (50s, 5m, 1h30m, or a number of seconds)."""
    from runner.base.durations import parse_duration

    try:
        return parse_duration(float(text) if text.strip().replace(".", "", 1).isdigit() else text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _complete_with(completer: Callable[..., list[str]], action: argparse.Action) -> None:
    """Shell completion of `action`'s values: argcomplete reads `completer` off the action."""
    action.completer = completer  # type: ignore[attr-defined]  # argcomplete's; not in stubs


def build_parser() -> argparse.ArgumentParser:
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

    def runbook_name(sub: argparse.ArgumentParser, **kwargs: Any) -> None:
        _complete_with(complete.runbook_names, sub.add_argument("name", **kwargs))

    command("list", "list the runbooks this configuration can run").add_argument(
        "--format", choices=PAGE_FORMATS, default="text"
    )

    show = command("show", "describe a runbook: inputs, steps, thresholds, hints")
    runbook_name(show, help="runbook name or path to its YAML file")
    show.add_argument("--format", choices=PAGE_FORMATS, default="text")

    run = command("run", "run a runbook by name (or path) and exit with its status")
    runbook_name(run, help="runbook name or path to its YAML file")
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
        type=_byte_count,
        default=None,
        metavar="BYTES",
        help="with --format nagios: at most this many bytes of output (default 4096)",
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

    validate = command("validate", "check runbooks and checks; exit 1 when anything is wrong")
    validate.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="files or folders (default: the configured runbooks and checks)",
    )
    validate.add_argument("--format", choices=PROBLEM_FORMATS, default="text")

    history = command("history", "list recorded runs, newest first")
    runbook_name(history, nargs="?", help="only runs of this runbook")
    history.add_argument(
        "--run", metavar="ID", help="show one run with its steps (an id prefix is enough)"
    )
    history.add_argument("--limit", type=int, default=20)
    history.add_argument("--format", choices=PAGE_FORMATS, default="text")

    prune = command(
        "prune",
        "remove runs older than `retention:` in runner.yaml (default 90 days, keeping the "
        "last 100 of each runbook), with their steps and deliveries",
    )
    prune.add_argument("--dry-run", action="store_true", help="say what would go; remove nothing")
    prune.add_argument("--format", choices=PAGE_FORMATS, default="text")

    notify_test = command(
        "notify-test",
        "send a test message to the services of a tag; exit 1 when any did not take it",
    )
    tag = notify_test.add_argument(
        "tag", metavar="TAG", help="an Apprise tag, or several: ops,oncall"
    )
    _complete_with(complete.tags, tag)
    notify_test.add_argument("--format", choices=PAGE_FORMATS, default="text")

    status = command(
        "status", "each runbook's last run and open alert; exits with the worst status"
    )
    status.add_argument("--format", choices=PAGE_FORMATS, default="text")

    doctor = command(
        "doctor",
        "check, as this user, what a scheduled run needs: config, var/ and the state "
        "store, connections, notification URLs, the clock; exit 1 with what to fix",
    )
    doctor.add_argument("--format", choices=PAGE_FORMATS, default="text")

    schema = command("schema", "print a JSON Schema (for editors and CI)")
    schema.add_argument(
        "kind", nargs="?", choices=("runbook", "check", "runner"), default="runbook"
    )

    completion = command(
        "completion",
        "print the shell completion script: commands, options, runbook names, --param inputs",
    )
    completion.add_argument("shell", choices=SHELLS, help="the shell to complete in")
    completion.epilog = complete.INSTALL
    completion.formatter_class = argparse.RawDescriptionHelpFormatter
    return parser
