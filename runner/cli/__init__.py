"""The `runbook` command line: a thin shell over the run service and the library.

- main.py: parse, dispatch, the one top-level catch and exit codes; `console()`, the
  program, ends the process without the interpreter's teardown;
- parser.py: the argparse parser (also the source of the completion scripts);
- commands.py: one function per command, each calling one operation;
- complete.py: shell completion (argcomplete) and its completers;
- signals.py: SIGTERM and Ctrl-C abort the running run.
"""

from runner.cli.main import console, main

__all__ = ["console", "main"]
