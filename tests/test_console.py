"""The `runbook` program's own start and end (issue 11, point 1): only the parser of the
command asked for is built, and the process ends without the interpreter's teardown
once its exit handlers have run and its output is flushed."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
from conftest import REPO

from runner.cli.parser import COMMANDS, build_parser, parser_for

#: A child that ends through end_process(CODE) with a buffered line on stdout, an exit
#: handler and an object whose __del__ only the interpreter's teardown would call.
_CHILD = """
import atexit, sys
from runner.cli.main import end_process

class Torn:
    def __del__(self):
        sys.stderr.write("torn down\\n")

kept = Torn()
atexit.register(lambda: sys.stderr.write("exit handler ran\\n"))
sys.stdout.write("the answer, still in the buffer")
{before}
end_process({code})
"""


def _child(code: int, before: str = "") -> subprocess.CompletedProcess[str]:
    program = _CHILD.format(code=code, before=textwrap.dedent(before))
    return subprocess.run(
        [sys.executable, "-c", program],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_process_ends_with_its_code_its_output_and_exit_handlers_but_no_teardown() -> None:
    done = _child(2)

    assert done.returncode == 2
    assert done.stdout == "the answer, still in the buffer"
    assert done.stderr == "exit handler ran\n"  # and not "torn down"


def test_a_running_non_daemon_thread_is_waited_for_by_the_normal_exit() -> None:
    done = _child(
        1,
        """
        import threading, time
        threading.Thread(target=lambda: (time.sleep(0.2), print(" and the thread's"))).start()
        """,
    )

    assert done.returncode == 1
    assert done.stdout == "the answer, still in the buffer and the thread's\n"
    assert "torn down" in done.stderr


def test_under_a_profiler_the_normal_exit_stays_so_it_can_write_its_results() -> None:
    done = _child(
        0,
        """
        import os
        os._exit = lambda code: sys.stderr.write("quick exit\\n")
        sys.setprofile(lambda *args: None)
        """,
    )

    assert done.returncode == 0
    assert "quick exit" not in done.stderr


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_a_command_lines_parser_has_only_its_command_with_the_same_options(name: str) -> None:
    whole = build_parser()
    alone = parser_for([name, "--help"])

    assert list(alone.commands) == [name]
    assert alone.commands[name].format_help() == whole.commands[name].format_help()
    assert alone.format_usage() == whole.format_usage()


@pytest.mark.parametrize("argv", [[], ["--help"], ["--config", "x.yaml", "run"], ["rnu"]])
def test_a_command_line_not_starting_with_a_command_gets_the_whole_parser(
    argv: list[str],
) -> None:
    assert list(parser_for(argv).commands) == list(COMMANDS)


def test_the_shell_asking_for_completions_gets_the_whole_parser(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("_ARGCOMPLETE", "1")

    assert list(parser_for(["run"]).commands) == list(COMMANDS)
