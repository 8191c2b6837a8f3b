"""`runbook`: parse the command line, run one command, and choose the exit code.

The one top-level catch: every RunbookError presents itself (`format_message()`) and
carries its exit code. Exit codes of `run` follow Nagios: 0 OK, 1 WARNING, 2 CRITICAL,
3 UNKNOWN (the runbook could not be evaluated: invalid file, bad --param, template
error). `validate` exits 0 when every file is valid and 1 otherwise.
"""

from __future__ import annotations

import sys

from runner.base.errors import EXIT_UNKNOWN, Aborted, InvalidInput, RunbookError
from runner.cli import complete
from runner.cli.parser import build_parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    complete.answer(parser)  # the shell asking for completions: answered, and exits
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help()
        return EXIT_UNKNOWN
    if args.command == "completion":
        sys.stdout.write(complete.script(args.shell))
        return 0
    from runner.cli.commands import COMMANDS

    try:
        return int(COMMANDS[args.command](args) or 0)
    except InvalidInput as error:
        print(error.format_message(), file=sys.stderr)
        count = len(error.errors)
        print(f"{count} error{'' if count == 1 else 's'}: nothing was run", file=sys.stderr)
        return error.exit_code
    except (RunbookError, Aborted) as error:  # Aborted: SIGTERM, a BaseException
        print(f"runbook: {error.format_message()}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("runbook: interrupted", file=sys.stderr)
        return EXIT_UNKNOWN
    except BrokenPipeError:
        return 0
