"""Hostile input (issue 10, point 1): each case ends with its exact message and exit code,
from `runbook validate` (exit 1) and `runbook run` (exit 3), never a traceback, and a run
that could not start leaves nothing behind in the state store."""

from __future__ import annotations

import json
import sqlite3

import pytest

from runner.cli import main

HEAD = "runbook: t\nconnection: main\n"
SELECT = "steps:\n  - sql: SELECT 1\n"
NESTED = HEAD + "steps:\n  - sql: SELECT 1\n    x: " + "[" * 500 + "]" * 500 + "\n"
LONG_SQL_NAME = "a" * 296 + ".sql"

# (id, runbook text, the exact problem lines both commands print)
INVALID = [
    (
        "timeout-4301-digits",
        HEAD + SELECT + "    timeout: " + "9" * 4301 + "\n",
        [
            "runbooks/t.yaml:5:14: error: steps[0].timeout: the number has 4,301 digits; a number "
            "must have at most 4,300 (write a smaller number, or quote it to keep it as text)"
        ],
    ),
    (
        "timeout-4300-digits",
        HEAD + SELECT + "    timeout: " + "9" * 4300 + "\n",
        [
            "runbooks/t.yaml:5:14: error: steps[0].timeout: 99999999999999999999...9999999999 "
            "(4,300 characters) is too long: a duration must be at most 36500d"
        ],
    ),
    (
        "nesting-500-levels",
        NESTED,
        [
            "runbooks/t.yaml:5:55: error: the document nests more than 50 levels deep and was "
            "refused (a runbook never needs this; flatten the nesting)"
        ],
    ),
    (
        # block lists nest on one line: a count of lines and brackets does not bound them
        "nesting-900-levels-one-line",
        HEAD + SELECT + "    x:\n      " + "- " * 900 + "1\n",
        [
            "runbooks/t.yaml:6:101: error: the document nests more than 50 levels deep and was "
            "refused (a runbook never needs this; flatten the nesting)"
        ],
    ),
    (
        "nesting-2000-levels",
        HEAD + "steps:\n  - sql: SELECT 1\n    x: " + "[" * 2000 + "]" * 2000 + "\n",
        [
            "runbooks/t.yaml:5:1005: error: the document nests more than 50 levels deep and was "
            "refused (a runbook never needs this; flatten the nesting)"
        ],
    ),
    (
        # each anchor nests 20 levels and the one before it: 61 once expanded, which every
        # stage after loading would recurse through (each is shallow as written)
        "nesting-through-aliases",
        HEAD
        + "a: &a [1]\n"
        + "b: &b "
        + "[" * 20
        + "*a"
        + "]" * 20
        + "\n"
        + "c: &c "
        + "[" * 20
        + "*b"
        + "]" * 20
        + "\n"
        + "d: &d "
        + "[" * 20
        + "*c"
        + "]" * 20
        + "\n"
        + SELECT,
        [
            "runbooks/t.yaml:1:1: error: the document nests more than 50 levels deep through "
            "YAML aliases and was refused (a runbook never needs this; remove the nested "
            "aliases)"
        ],
    ),
    (
        "impossible-date",
        HEAD + "description: 2026-13-01\n" + SELECT,
        [
            "runbooks/t.yaml:3:14: error: description: '2026-13-01' is read as a date but is not "
            'a valid one: month must be in 1..12 (quote it ("2026-13-01") to keep it as text)'
        ],
    ),
    (
        "connection-list",
        "runbook: t\nconnection: [orders]\n" + SELECT,
        ["runbooks/t.yaml:2:13: error: connection: expected a string, got a list"],
    ),
    (
        "sql-file-name-300",
        HEAD + "steps:\n  - sql: " + LONG_SQL_NAME + "\n",
        [
            f"runbooks/t.yaml:4:10: error: steps[0].sql: SQL file {LONG_SQL_NAME!r} not found "
            "(looked in {root}/sql)"
        ],
    ),
    (
        "input-named-true",
        HEAD + "inputs:\n  name: {type: string}\n  true: {type: string}\n" + SELECT,
        [
            "runbooks/t.yaml:5:3: error: inputs: the key true must be text (quote it: YAML reads "
            "unquoted yes, no, on, off, true, false and numbers as values)"
        ],
    ),
    (
        "title-int-abc",
        HEAD + "title: !!int abc\n" + SELECT,
        [
            "runbooks/t.yaml:3:8: error: title: 'abc' is tagged !!int but is not a whole number "
            "(remove the !!int tag, or write a whole number)"
        ],
    ),
]


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def running_rows(project) -> list[tuple]:
    store = project.root / "var" / "runner.db"
    if not store.exists():
        return []
    with sqlite3.connect(store) as db:
        return db.execute("SELECT id FROM runs WHERE state = 'running'").fetchall()


@pytest.mark.parametrize("name, text, expected", INVALID, ids=[c[0] for c in INVALID])
def test_hostile_runbooks_are_refused_with_their_message(project, capsys, name, text, expected):
    project.runbook("t", text)
    expected = [line.replace("{root}", str(project.root)) for line in expected]
    code, out, err = cli(capsys, "validate", "runbooks/t.yaml")
    assert (code, out.splitlines()[:-1], err) == (1, expected, "")
    code, _, err = cli(capsys, "run", "t")
    count = len(expected)
    assert (code, err.splitlines()) == (
        3,
        [*expected, f"{count} error{'' if count == 1 else 's'}: nothing was run"],
    )
    assert "Traceback" not in err
    assert running_rows(project) == []


CHECK = """\
check: c1
inputs:
  who: {type: string}
steps:
  - sql: SELECT 1 AS one
    connection: main
"""


def test_a_check_file_run_directly_with_dry_run(project, capsys):
    project.write("checks/c1.yaml", CHECK)
    code, _, err = cli(capsys, "run", "checks/c1.yaml", "--dry-run")
    assert (code, err) == (3, "runbook: missing input 'who' (string) for c1: add --param who=...\n")
    code, out, err = cli(capsys, "run", "checks/c1.yaml", "--dry-run", "--param", "who=x")
    assert code == 0 and err == ""
    assert "c1  [DRY RUN - nothing was executed]" in out
    assert "OK - nothing executed: 1 step rendered" in out


@pytest.mark.parametrize("value", [str(2**64), str(-(2**63) - 1)])
def test_an_integer_param_beyond_64_bits_is_refused_before_the_run(project, capsys, value):
    project.runbook(
        "t",
        HEAD
        + "inputs:\n  n: {type: integer, default: 1}\nsteps:\n  - sql: SELECT {{ inputs.n }} AS n\n",
    )
    code, _, err = cli(capsys, "run", "t", "--param", f"n={value}")
    assert (code, err) == (
        3,
        "runbook: input 'n' (integer): expected a whole number from -9223372036854775808 to "
        f"9223372036854775807 (64 bits, what databases store), got {value}\n",
    )
    assert running_rows(project) == []
    code, _, _ = cli(capsys, "run", "t", "--param", f"n={2**63 - 1}")
    assert code == 0


def test_history_limit_beyond_64_bits(project, capsys):
    code, _, err = cli(capsys, "history", "--limit", str(2**70))
    assert (code, err) == (
        3,
        "runbook: --limit must be at most 9223372036854775807 (the largest number the state "
        f"store takes), got {2**70}\n",
    )
    code, _, _ = cli(capsys, "history", "--limit", str(2**63 - 1))
    assert code == 0


RUN_USAGE = (
    "usage: runbook run [-h] [--param NAME=VALUE] [--dry-run | --rehearse] [--yes]\n"
    "                   [--format {text,json,nagios}] [--max-output BYTES]\n"
    "                   [--all-items] [--verbose] [--connection NAME=OTHER]\n"
    "                   [--trigger TRIGGER] [--deadline DURATION]\n"
    "                   [--color {auto,always,never}] [--skipped-status {last,ok}]\n"
    "                   name\n"
)
TOP_USAGE = "usage: runbook [-h] [--version] [--config PATH] COMMAND ...\n"
CHOICE = "argument --format: invalid choice: 'nagois' (choose from 'text', 'json', 'nagios')"

# (id, argv, stderr: the usage and the error as argparse words them, stdout: the answer)
USAGE_ERRORS = [
    (
        "unknown-option",
        ["run", "t", "--bogus", "--format", "nagios"],
        TOP_USAGE + "runbook: error: unrecognized arguments: --bogus\n",
        "T UNKNOWN - invalid: usage: unrecognized arguments: --bogus\n",
    ),
    (
        "missing-runbook-name",
        ["run", "--format", "nagios"],
        RUN_USAGE + "runbook run: error: the following arguments are required: name\n",
        "RUNBOOK UNKNOWN - invalid: usage: the following arguments are required: name\n",
    ),
    (
        "bad-format-choice",  # the format cannot be read: the default's (text) line
        ["run", "t", "--format", "nagois"],
        RUN_USAGE + f"runbook run: error: {CHOICE}\n",
        f"t: UNKNOWN - invalid: usage: {CHOICE}\n",
    ),
    (
        "unknown-option-text",
        ["run", "t", "--dry-run", "--bogus"],
        TOP_USAGE + "runbook: error: unrecognized arguments: --bogus\n",
        "t: UNKNOWN - invalid: usage: unrecognized arguments: --bogus (dry-run)\n",
    ),
]


@pytest.mark.parametrize(
    "argv, stderr, stdout", [case[1:] for case in USAGE_ERRORS], ids=[c[0] for c in USAGE_ERRORS]
)
def test_a_run_usage_error_answers_on_stdout_and_exits_unknown(
    project, capsys, monkeypatch, argv, stderr, stdout
):
    """A scheduler reading nagios output sees an answer and exit 3 (UNKNOWN), not a bare
    usage on stderr with argparse's exit 2 (CRITICAL)."""
    monkeypatch.setenv("COLUMNS", "80")
    assert cli(capsys, *argv) == (3, stdout, stderr)


def test_a_run_usage_error_in_json_is_an_invalid_document(project, capsys, monkeypatch):
    monkeypatch.delenv("RUNBOOK_TRIGGER", raising=False)
    code, out, err = cli(capsys, "run", "t", "--format=json", "--trigger", "cron", "-x")
    answer = json.loads(out)
    assert (code, err.splitlines()[-1]) == (3, "runbook: error: unrecognized arguments: -x")
    assert {key: answer[key] for key in ("runbook", "status", "outcome", "trigger", "error")} == {
        "runbook": "t",
        "status": "UNKNOWN",
        "outcome": "invalid",
        "trigger": "cron",
        "error": "usage: unrecognized arguments: -x",
    }


def test_other_commands_keep_usage_errors_on_stderr(project, capsys):
    assert cli(capsys, "list", "--bogus") == (
        3,
        "",
        TOP_USAGE + "runbook: error: unrecognized arguments: --bogus\n",
    )
