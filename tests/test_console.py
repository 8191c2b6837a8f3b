"""The `runbook` program's own start and end (issue 11, point 1): only the parser of the
command asked for is built, the process ends without the interpreter's teardown once
its exit handlers have run and its output is flushed, and the state store's SQLite
connection goes with it, leaving the WAL for the next run."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

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


# -- the state store's WAL, left for the next run -------------------------------------------

_RECORD_AND_DIE = """
import os, signal, sys
from datetime import UTC, datetime
from runner.base.ending import end_without_teardown
from runner.history.store import StateStore
from runner.language.results import RunResult

end_without_teardown()
store = StateStore(sys.argv[1])
run = RunResult("20261201T000000Z-000000000001", "gauge", started=datetime.now(UTC))
store.start_run(run)
run.ended = datetime.now(UTC)
store.finish_run(run)
if sys.argv[2] == "kill":
    os.kill(os.getpid(), signal.SIGKILL)  # no close, no exit handler: a crash
store.close()
from runner.cli.main import end_process
end_process(0)
"""


def _record_in_a_child(path: Path, how: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _RECORD_AND_DIE, str(path), how],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _recorded(path: Path) -> dict[str, object] | None:
    from runner.history.store import StateStore

    with StateStore(path) as store:
        return store.get_run("20261201T000000Z-000000000001")


@pytest.mark.parametrize("how", ["exit", "kill"])
def test_a_run_recorded_by_a_process_that_ends_without_closing_the_store_is_kept(
    tmp_path: Path, how: str
) -> None:
    path = tmp_path / "runner.db"
    done = _record_in_a_child(path, how)

    assert done.returncode == (-9 if how == "kill" else 0), done.stderr
    assert Path(f"{path}-wal").exists()  # the WAL stays, for the next run to append to
    run = _recorded(path)
    assert run is not None and run["outcome"] == "completed"
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


def test_a_store_closed_in_a_process_that_goes_on_is_closed_as_before(tmp_path: Path) -> None:
    from runner.history.store import StateStore

    path = tmp_path / "runner.db"
    StateStore(path).close()

    assert path.exists()
    assert not Path(f"{path}-wal").exists()  # checkpointed and deleted by the close


def test_the_program_leaves_the_wal_and_each_run_reads_the_runs_before_it(
    tmp_path: Path,
) -> None:
    for part in ("runbooks", "sql"):
        shutil.copytree(REPO / part, tmp_path / part)
    shutil.copy(REPO / "runner.yaml", tmp_path / "runner.yaml")
    env = {k: v for k, v in os.environ.items() if k != "RUNBOOK_CONFIG"}
    for _ in range(3):
        done = subprocess.run(
            [sys.executable, "-m", "runner", "run", "order-health", "--format", "nagios"],
            cwd=tmp_path,
            env={**env, "PYTHONPATH": str(REPO)},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.stdout.startswith("ORDER-HEALTH "), done.stderr

    assert (tmp_path / "var" / "runner.db-wal").exists()
    from runner.history.store import StateStore

    with StateStore(tmp_path / "var" / "runner.db") as store:
        runs = store.history("order-health", limit=10)
    assert [run["outcome"] for run in runs] == ["completed"] * 3
