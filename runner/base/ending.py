"""Whether this process ends with os._exit, without the interpreter's teardown.

The `runbook` program does (cli/main.py, `console`); a program that embeds the runner
does not, and neither do the tests that call `main()`. What a process that ends this
way may leave undone: the state store's SQLite connection stays open to the end, so
the store's WAL stays for the next run (history/backends.py).
"""

from __future__ import annotations

_without_teardown = False


def end_without_teardown() -> None:
    """Say that this process will end with os._exit (only the `runbook` program)."""
    global _without_teardown
    _without_teardown = True


def ends_without_teardown() -> bool:
    return _without_teardown
