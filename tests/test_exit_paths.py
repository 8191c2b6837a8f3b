"""`runbook run` answers on stdout on every exit path (issue 10, point 1).

Whatever stops a run before it has a result (an unknown runbook, an invalid file, a bad
--param, a state store that cannot be opened, a bug), stderr says why as before, the exit
code is 3 (UNKNOWN), and stdout carries the answer of the --format asked for: the line a
monitor reads, or the JSON document a program parses. Never a traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import pytest
from conftest import REPO

from runner.cli import main

GAUGE = """
runbook: gauge
kind: health-check
connection: main
inputs:
  n: {type: integer, default: 1}
steps:
  - id: one
    sql: SELECT {{ inputs.n }} AS n
"""

BROKEN = """
runbook: broken
kind: health-check
connection: main
colour: red
steps:
  - id: one
    sql: SELECT 1
"""

ALLOWED = (
    "runbook, title, kind, description, tags, schedule, timezone, jitter, catchup, "
    "catchup_window, grace, connection, inputs, vars, defaults, notify, steps, on_failure, "
    "finally, concurrency, deadline"
)


@dataclass(frozen=True)
class Case:
    args: list[str]
    name: str  # the runbook as asked for
    stderr: str  # exactly; {root} is the project's folder
    reason: str  # the first line of the error, as stdout repeats it
    problems: list[dict[str, Any]] | None = None  # json: an invalid file's problems


CASES = {
    "unknown-runbook": Case(
        ["run", "gauje"],
        "gauje",
        "runbook: no runbook named 'gauje' in runbooks; did you mean 'gauge'?\n",
        "no runbook named 'gauje' in runbooks; did you mean 'gauge'?",
    ),
    "invalid-file": Case(
        ["run", "broken"],
        "broken",
        f"runbooks/broken.yaml:4:1: error: unknown key 'colour' (allowed keys: {ALLOWED})\n"
        "1 error: nothing was run\n",
        f"runbooks/broken.yaml:4:1: error: unknown key 'colour' (allowed keys: {ALLOWED})",
        [
            {
                "file": "runbooks/broken.yaml",
                "line": 4,
                "col": 1,
                "key": None,
                "message": "unknown key 'colour'",
                "hint": f"allowed keys: {ALLOWED}",
                "severity": "error",
            }
        ],
    ),
    "unknown-param": Case(
        ["run", "gauge", "--param", "m=2"],
        "gauge",
        "runbook: unknown input 'm' for gauge; it takes: n\n",
        "unknown input 'm' for gauge; it takes: n",
    ),
    "param-of-wrong-type": Case(
        ["run", "gauge", "--param", "n=two"],
        "gauge",
        "runbook: input 'n' (integer): expected a whole number, got 'two'\n",
        "input 'n' (integer): expected a whole number, got 'two'",
    ),
    # A store that cannot be written lets the run go on (tests/test_store_faults.py); a
    # damaged one refuses it before any step runs.
    "state-store-is-damaged": Case(
        ["--config", "damaged.yaml", "run", "gauge"],
        "gauge",
        "runbook: {root}/notes.db: the state store is damaged (file is not a database); "
        "restore it from a backup, or move it aside (mv {root}/notes.db {root}/notes.db.damaged)"
        " and the next run starts a new one; `runbook doctor` checks it\n",
        "{root}/notes.db: the state store is damaged (file is not a database); "
        "restore it from a backup, or move it aside (mv {root}/notes.db {root}/notes.db.damaged)"
        " and the next run starts a new one; `runbook doctor` checks it",
    ),
    "unexpected-exception": Case(
        ["run", "gauge"],
        "gauge",
        "runbook: internal error: RuntimeError: the disk caught fire\nand smokes\n",
        "internal error: RuntimeError: the disk caught fire",
    ),
}


def expected_stdout(case: Case, fmt: str, root: str) -> str:
    reason = case.reason.format(root=root)
    if fmt == "nagios":
        return f"{case.name.upper()} UNKNOWN - invalid: {reason}\n"
    if fmt == "text":
        return f"{case.name}: UNKNOWN - invalid: {reason}\n"
    error = case.stderr.format(root=root).removeprefix("runbook: ").rstrip("\n")
    document: dict[str, Any] = {
        "format_version": 1,
        "run_id": None,
        "runbook": case.name,
        "title": "",
        "kind": "",
        "status": "UNKNOWN",
        "exit_code": 3,
        "outcome": "invalid",
        "mode": "run",
        "trigger": "manual",
        "started": None,
        "ended": None,
        "duration": 0.0,
        "inputs": {},
        "user": "",
        "host": "",
        "error": error.removesuffix("\n1 error: nothing was run"),
        "steps": [],
        "notifications": [],
    }
    if case.problems is not None:
        document["problems"] = case.problems
    return json.dumps(document, indent=2) + "\n"


@pytest.fixture
def runbooks(project: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.delenv("RUNBOOK_TRIGGER", raising=False)
    project.runbook("gauge", GAUGE)
    project.runbook("broken", BROKEN)
    project.write("notes.db", "these are my notes, not a database\n" * 100)
    project.write("damaged.yaml", "connections:\n  main: {sqlite: data.db}\nstate: notes.db\n")
    return project


def _fail_in_the_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fault injected where the run walks its steps: a bug we did not foresee."""
    from runner.engine.walker import Engine

    def execute(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the disk caught fire\nand smokes")

    monkeypatch.setattr(Engine, "execute", execute)


@pytest.mark.parametrize("fmt", ["nagios", "json", "text"])
@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_a_run_stopped_by_an_error_answers_in_its_format(
    runbooks: Any, capsys: Any, monkeypatch: pytest.MonkeyPatch, case: Case, fmt: str
) -> None:
    if case is CASES["unexpected-exception"]:
        _fail_in_the_run(monkeypatch)
    code = main([*case.args, "--format", fmt])
    out, err = capsys.readouterr()
    root = str(runbooks.root)
    assert (code, err) == (3, case.stderr.format(root=root))
    assert out == expected_stdout(case, fmt, root)


def test_the_answer_keeps_the_mode_and_the_trigger(runbooks: Any, capsys: Any) -> None:
    code = main(["run", "gauje", "--dry-run", "--trigger", "schedule", "--format", "json"])
    data = json.loads(capsys.readouterr().out)
    assert (code, data["mode"], data["trigger"]) == (3, "dry-run", "schedule")
    main(["run", "gauje", "--dry-run", "--format", "text"])
    assert capsys.readouterr().out == (
        "gauje: UNKNOWN - invalid: no runbook named 'gauje' in runbooks; "
        "did you mean 'gauge'? (dry-run)\n"
    )


def test_the_nagios_answer_is_one_clean_bounded_line(runbooks: Any, capsys: Any) -> None:
    long = "n=" + "9x" * 60
    main(["run", "gauge", "--param", long, "--format", "nagios", "--max-output", "100"])
    out = capsys.readouterr().out
    line = "GAUGE UNKNOWN - invalid: input 'n' (integer): expected a whole number, got '"
    assert out == (line + "9x" * 60)[:97] + "...\n"  # cut to 100 bytes, as a run's line is
    main(["run", "gauge", "--param", "n=a|b", "--format", "nagios"])
    out = capsys.readouterr().out
    assert (
        out == "GAUGE UNKNOWN - invalid: input 'n' (integer): expected a whole number, got 'a/b'\n"
    )


def test_commands_without_a_promised_answer_say_it_on_stderr_only(
    runbooks: Any, capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from runner.language import library

    def broken(*args: Any, **kwargs: Any) -> None:
        raise ValueError("bad things")

    monkeypatch.setattr(library.Library, "names", broken)
    assert main(["list", "--format", "json"]) == 3
    assert capsys.readouterr() == ("", "runbook: internal error: ValueError: bad things\n")


def _spawn(args: list[str], cwd: Any, *prelude: str) -> subprocess.CompletedProcess[str]:
    """`python -m runner ARGS`, or with `prelude` run first in the same process."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("RUNBOOK_TRIGGER", None)
    env.pop("RUNBOOK_CONFIG", None)
    command = [sys.executable, "-m", "runner", *args]
    if prelude:
        code = "\n".join(
            [*prelude, "import runpy", "runpy.run_module('runner', run_name='__main__')"]
        )
        command = [sys.executable, "-c", code, *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("fmt", ["nagios", "json", "text"])
def test_a_real_process_answers_without_a_traceback(runbooks: Any, fmt: str) -> None:
    root = str(runbooks.root)
    case = CASES["state-store-is-damaged"]
    done = _spawn([*case.args, "--format", fmt], runbooks.root)
    assert (done.returncode, done.stderr) == (3, case.stderr.format(root=root))
    assert done.stdout == expected_stdout(case, fmt, root)


def test_a_real_process_with_a_bug_answers_without_a_traceback(runbooks: Any) -> None:
    case = CASES["unexpected-exception"]
    done = _spawn(
        [*case.args, "--format", "nagios"],
        runbooks.root,
        "import runner.engine.walker as walker",
        "def execute(*args, **kwargs):",
        "    raise RuntimeError('the disk caught fire\\nand smokes')",
        "walker.Engine.execute = execute",
    )
    assert (done.returncode, done.stderr) == (3, case.stderr)
    assert done.stdout == expected_stdout(case, "nagios", str(runbooks.root))
    assert "Traceback" not in done.stderr + done.stdout
