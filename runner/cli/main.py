"""`runbook`: parse the command line, run one command, and choose the exit code.

The one top-level catch: every RunbookError presents itself (`format_message()`) and
carries its exit code. Exit codes of `run` follow Nagios: 0 OK, 1 WARNING, 2 CRITICAL,
3 UNKNOWN (the runbook could not be evaluated: invalid file, bad --param, template
error). `validate` exits 0 when every file is valid and 1 otherwise.

Whatever stops a command, a person reads why on stderr and nothing escapes as a
traceback: an error the runner did not raise on purpose (a bug) is
`runbook: internal error: Type: message`, exit 3. `run` also answers on stdout, in its
--format, as a monitor expects (`ORDER-HEALTH UNKNOWN - invalid: ...` for nagios).

`console()` is the program (`runbook`, `python -m runner`): main() on the process's own
command line, then the end of the process without the interpreter's teardown.
"""

from __future__ import annotations

import argparse
import atexit
import gc
import os
import sys
from typing import NoReturn

from runner.base.ending import end_without_teardown, ends_without_teardown
from runner.base.errors import EXIT_UNKNOWN, Aborted, InvalidInput, RunbookError
from runner.base.gc_pause import paused_gc
from runner.cli import complete
from runner.cli.parser import UsageError, parser_for, run_options


def console() -> NoReturn:
    """`runbook`: run main() on the command line and end the process with its exit code."""
    end_without_teardown()
    end_process(main())


def end_process(code: int) -> NoReturn:
    """End the process with `code`, without the interpreter's teardown when nothing needs it.

    Python's exit frees every module and object one by one and runs full garbage
    collections: about 38 M instructions, 7% of a nagios run of the demo, for memory the
    system takes back at once (issue 11, point 1). What an exit must still do is done
    here: the exit handlers run (atexit, weakref.finalize) and stdout and stderr are
    flushed. The normal exit stays when another non-daemon thread is still running (it
    waits for it), when flushing fails (Python reports that itself, exit 120) and under
    a profiler or tracer (`python -m cProfile`, `-m trace` write their results after
    the program returns).

    Nothing waits for the teardown to be written: files the runner writes are closed
    where they are written, and the state store's SQLite connection, left open on
    purpose (history/backends.py), has every commit in its WAL already.
    """
    if _threads_running() or sys.getprofile() is not None or sys.gettrace() is not None:
        sys.exit(code)
    atexit._run_exitfuncs()
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
    except (OSError, ValueError):  # a closed pipe, a full disk, a closed stream
        sys.exit(code)
    os._exit(code)


def _threads_running() -> bool:
    """Is a non-daemon thread other than this one running? (Without `threading` imported,
    none was started: `runbook --help` does not import it.)"""
    threading = sys.modules.get("threading")
    if threading is None:
        return False
    main_thread = threading.main_thread()
    return any(t is not main_thread and not t.daemon for t in threading.enumerate())


def main(argv: list[str] | None = None) -> int:
    parser = parser_for(sys.argv[1:] if argv is None else argv)
    complete.answer(parser)  # the shell asking for completions: answered, and exits
    try:
        args = parser.parse_args(argv)
    except UsageError as error:  # usage on stderr; `run` answers on stdout too
        error.print_usage()
        asked = run_options(parser)
        return EXIT_UNKNOWN if asked is None else _answer(asked, error, EXIT_UNKNOWN)
    if not args.command:
        parser.print_help()
        return EXIT_UNKNOWN
    if args.command == "completion":
        sys.stdout.write(complete.script(args.shell))
        return 0
    with paused_gc():  # imports make many objects and no garbage: see _imported
        from runner.cli.commands import COMMANDS
    _imported()
    try:
        return int(COMMANDS[args.command](args) or 0)
    except InvalidInput as error:
        print(error.format_message(), file=sys.stderr)
        count = len(error.errors)
        print(f"{count} error{'' if count == 1 else 's'}: nothing was run", file=sys.stderr)
        return _answer(args, error, error.exit_code)
    except (RunbookError, Aborted) as error:  # Aborted: SIGTERM, a BaseException
        print(f"runbook: {error.format_message()}", file=sys.stderr)
        return _answer(args, error, error.exit_code)
    except KeyboardInterrupt as error:
        print("runbook: interrupted", file=sys.stderr)
        return _answer(args, error, EXIT_UNKNOWN)
    except BrokenPipeError:  # the reader of stdout went away: nobody is left to answer
        return 0
    except Exception as error:  # a bug: said in one line, never a traceback
        print(f"runbook: internal error: {type(error).__name__}: {error}", file=sys.stderr)
        return _answer(args, error, EXIT_UNKNOWN)


#: Whether start-up's objects were frozen (once per process, see _imported).
_frozen = False


def _imported() -> None:
    """In the `runbook` program, move what start-up made (modules, classes, functions:
    most of the heap) out of the cyclic collector's sight: it would scan it at each full
    collection, and it lives until the process ends. With the collector paused while the
    commands are imported, a nagios run of the demo costs about 4% fewer instructions.
    Only there, once: a program that calls main() again and again (the tests, an
    embedder) would freeze the garbage of each call with it, for good."""
    global _frozen
    if ends_without_teardown() and not _frozen:
        gc.freeze()
        _frozen = True


def _answer(args: argparse.Namespace, error: BaseException, exit_code: int) -> int:
    """Print the command's answer to `error` on stdout, if it promises one; `exit_code`."""
    from runner.cli.commands import error_answer

    try:
        text = error_answer(args, error)
        if text is not None:
            sys.stdout.write(text if text.endswith("\n") else text + "\n")
            sys.stdout.flush()
    except Exception as failure:  # the answer failing must not hide the error
        print(
            f"runbook: internal error: no answer on stdout: {type(failure).__name__}: {failure}",
            file=sys.stderr,
        )
    return exit_code
