"""The `runbook` command line: one argparse parser, also the source of the shell
completion scripts (`runbook completion bash|zsh|fish`); a refused command line is a
UsageError (exit 3). Each command's arguments are in cli/arguments.py."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from runner import __version__
from runner.base.errors import RunbookError
from runner.cli.arguments import COMMANDS, byte_count
from runner.reports.formats import RUN_FORMATS

DESCRIPTION = """\
Run operations runbooks written in YAML: ordered SQL, HTTP and command steps with
warning/critical thresholds, retries, run history and Nagios-style exit codes.

exit codes of `runbook run`: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (the runbook
could not be evaluated: invalid file, missing or wrong --param, template error,
a usage error, a damaged state store). A state store that cannot be written does not
change the exit code: the run says it was not recorded and keeps it in var/spool/.
"""

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
  runbook next order-health -n 3                its next 3 run times, in its zone and UTC
  runbook export systemd -o units/              a .service and .timer per scheduled runbook
  runbook scheduler --max-parallel 8            run the scheduled runbooks (SIGTERM to stop)
  runbook notify-test ops                       send a test message to every service tagged ops
  runbook run order-retry -p staging_id=42      retry one failed order (asks first)
  runbook demo reset                            rebuild the demo after trying a rollback
  runbook completion bash > ~/.local/share/bash-completion/completions/runbook
"""


class UsageError(RunbookError):
    """A command line the parser refused (an unknown option, a missing runbook name, a
    bad --format): exit 3 (UNKNOWN), not argparse's 2, which would read as CRITICAL.
    runner/cli/main.py prints the usage on stderr and, for `run`, the answer on stdout."""

    def __init__(self, parser: argparse.ArgumentParser, message: str) -> None:
        super().__init__(f"usage: {message}")
        self.parser = parser
        self.message = message

    def print_usage(self) -> None:
        self.parser.print_usage(sys.stderr)
        print(f"{self.parser.prog}: error: {self.message}", file=sys.stderr)


class _Parser(argparse.ArgumentParser):
    """Raises UsageError instead of exiting 2; remembers the arguments it was given, so
    that `run` can answer a usage error in the --format the command line asked for."""

    given: list[str] | None = None
    commands: dict[str, _Parser]

    def error(self, message: str) -> NoReturn:
        raise UsageError(self, message)

    def parse_known_args(  # type: ignore[override]  # typeshed's overloads
        self, args: Sequence[str] | None = None, namespace: Any = None
    ) -> tuple[argparse.Namespace, list[str]]:
        self.given = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args(args, namespace)


def run_options(parser: argparse.ArgumentParser) -> argparse.Namespace | None:
    """What a `run` command line that was refused asked for, as far as it can be read:
    its runbook name (None when missing), --format (text when unreadable), --max-output,
    the mode and --trigger. None when the command was not `run`. Read by a lenient
    parser with the same options as `run`, without their types and choices."""
    run = getattr(parser, "commands", {}).get("run")
    if run is None or run.given is None:
        return None
    probe = _Parser(add_help=False)
    for action in run._actions:
        if not action.option_strings:
            probe.add_argument(action.dest, nargs="?")
        elif action.nargs == 0:
            probe.add_argument(*action.option_strings, dest=action.dest, action="store_true")
        else:
            probe.add_argument(*action.option_strings, dest=action.dest)
    try:
        found, _ = probe.parse_known_args(run.given)
    except UsageError:  # e.g. `--format` with no value: nothing more can be read
        found = argparse.Namespace(name=None, dry_run=False, rehearse=False, trigger=None)
    try:
        limit = byte_count(getattr(found, "max_output", None) or "")
    except argparse.ArgumentTypeError:
        limit = None
    fmt = getattr(found, "format", None)
    return argparse.Namespace(
        command="run",
        name=found.name or "runbook",
        format=fmt if fmt in RUN_FORMATS else "text",
        max_output=limit,
        dry_run=found.dry_run,
        rehearse=found.rehearse,
        trigger=found.trigger,
    )


def build_parser(command: str | None = None) -> _Parser:
    """The parser of the command line. With `command` (a name in COMMANDS), only that
    command's own parser is built, with the same options and help: a run does not pay
    for the parsers of the others (issue 11, point 1: about 20 M instructions, 4% of a
    nagios run; much of it gettext looking for a translation of argparse's words three
    times per parser)."""
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
    for name, (text, add_arguments) in COMMANDS.items():
        if command is None or name == command:
            add_arguments(commands.add_parser(name, help=text, description=text))
    parser.commands = dict(commands.choices)
    return parser


def parser_for(argv: Sequence[str]) -> _Parser:
    """The parser for this command line: only its command's when it starts with one (the
    others cannot be asked for then), the whole parser otherwise (`runbook --help`, a
    misspelt command, options before the command, the shell asking for completions)."""
    first = argv[0] if argv else None
    if first in COMMANDS and "_ARGCOMPLETE" not in os.environ:
        return build_parser(first)
    return build_parser()
