"""Shell completion: the scripts each shell accepts, and what `runbook` answers a TAB with.

The answers are asked the way the shells ask them (argcomplete's protocol: COMP_LINE,
COMP_POINT and _ARGCOMPLETE in the environment of a real `runbook` process); one test
drives bash itself through the script `runbook completion bash` prints.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

RUNBOOK = Path(sys.executable).with_name("runbook")

HEALTH = """
runbook: order-health
connection: main
inputs:
  stale_minutes: {type: integer, default: 60}
  mode: {type: string, enum: [fast, thorough], default: fast}
  verbose: {type: boolean, default: false}
steps:
  - {id: one, sql: SELECT 1 AS n}
"""


@pytest.fixture
def project(project: Any) -> Any:
    project.config(
        "connections:\n  main: {sqlite: data.db}\n  replica: {sqlite: replica.db}\n"
        "notifications:\n  urls:\n    ops: ['json://127.0.0.1:9/ops']\n"
        "    oncall: ['json://127.0.0.1:9/oncall']\n"
    )
    project.runbook("order-health", HEALTH)
    project.runbook("order-processing", "runbook: order-processing\nsteps: []\n")
    # Invalid (no steps, an unknown key), yet named: completion reads names, it does not validate.
    project.runbook("rollback", "runbook: order-rollback\nstepz: []\n")
    return project


def complete(line: str, cwd: Path, env: dict[str, str] | None = None) -> list[str]:
    """What `runbook` answers when the shell asks to complete `line` (cursor at the end)."""
    out = cwd / ".completions"
    environ = {
        **os.environ,
        "_ARGCOMPLETE": "1",
        "_ARGCOMPLETE_SHELL": "bash",
        "COMP_LINE": line,
        "COMP_POINT": str(len(line)),
        "_ARGCOMPLETE_STDOUT_FILENAME": str(out),
        **(env or {}),
    }
    done = subprocess.run(
        [str(RUNBOOK)], cwd=cwd, env=environ, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    text = out.read_text(encoding="utf-8") if out.exists() else ""
    return sorted(item.rstrip() for item in text.split("\013") if item)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            "runbook ",
            [
                "completion",
                "demo",
                "doctor",
                "export",
                "history",
                "list",
                "metrics",
                "next",
                "notify-test",
                "prune",
                "run",
                "scheduler",
                "schema",
                "serve",
                "show",
                "status",
                "validate",
            ],
        ),
        ("runbook r", ["run"]),
        ("runbook demo ", ["faults", "reset", "serve"]),
        ("runbook run ", ["order-health", "order-processing", "order-rollback"]),
        ("runbook run order-h", ["order-health"]),
        ("runbook show order-p", ["order-processing"]),
        ("runbook history order-r", ["order-rollback"]),
        ("runbook run order-health --pa", ["--param"]),
        ("runbook run order-health --param ", ["mode=", "stale_minutes=", "verbose="]),
        ("runbook run order-health -p st", ["stale_minutes="]),
        ("runbook run order-health --param mode=", ["mode=fast", "mode=thorough"]),
        ("runbook run order-health --param mode=t", ["mode=thorough"]),
        ("runbook run order-health --param verbose=", ["verbose=false", "verbose=true"]),
        ("runbook run order-health --param mode=fast --param ", ["stale_minutes=", "verbose="]),
        ("runbook run order-processing --param ", []),
        ("runbook run no-such-runbook --param ", []),
        ("runbook run order-health --connection ", ["main=", "replica="]),
        ("runbook run order-health --connection main=", ["main=replica"]),
        ("runbook run order-health --format ", ["json", "nagios", "text"]),
        ("runbook notify-test ", ["oncall", "ops"]),
        ("runbook completion ", ["bash", "fish", "zsh"]),
        ("runbook schema ", ["check", "runbook", "runner"]),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_a_tab_completes_what_runbook_accepts(project: Any, line: str, expected: list[str]) -> None:
    assert complete(line, project.root) == expected


def test_a_broken_runner_yaml_completes_no_names_and_says_nothing(project: Any) -> None:
    project.config("connections: [not, a, mapping]\n")
    assert complete("runbook run ", project.root) == []
    assert complete("runbook ru", project.root) == ["run"]  # the commands still complete


def test_names_come_from_the_config_named_on_the_line(project: Any, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    (other / "runbooks").mkdir(parents=True)
    (other / "runner.yaml").write_text("connections: {}\n", encoding="utf-8")
    (other / "runbooks" / "x.yaml").write_text("runbook: weekly-backup\nsteps: []\n")
    line = f"runbook --config {other / 'runner.yaml'} run "
    assert complete(line, project.root) == ["weekly-backup"]


# -- the scripts, checked by the shells themselves ---------------------------------------------

SYNTAX_CHECK = {"bash": ["bash", "-n"], "zsh": ["zsh", "-n"], "fish": ["fish", "--no-execute"]}


@pytest.mark.parametrize("shell", sorted(SYNTAX_CHECK))
def test_the_completion_script_is_one_the_shell_accepts(shell: str, tmp_path: Path) -> None:
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed (scripts/test installs it with apt-get as root)")
    done = subprocess.run(
        [str(RUNBOOK), "completion", shell], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "runbook" in done.stdout
    script = tmp_path / f"runbook.{shell}"
    script.write_text(done.stdout, encoding="utf-8")
    checked = subprocess.run(
        [*SYNTAX_CHECK[shell], str(script)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stderr


def test_bash_completes_through_the_printed_script(project: Any, tmp_path: Path) -> None:
    """bash sources `runbook completion bash` and completes a line with it, as at a TAB."""
    if shutil.which("bash") is None:
        pytest.skip("bash is not installed")
    script = tmp_path / "runbook.bash"
    script.write_text(
        subprocess.run(
            [str(RUNBOOK), "completion", "bash"], capture_output=True, text=True, check=True
        ).stdout,
        encoding="utf-8",
    )
    driver = f"""
source {script}
COMP_LINE='runbook run order-health --param st'
COMP_POINT=${{#COMP_LINE}}
COMP_WORDS=(runbook run order-health --param st)
COMP_CWORD=4
_python_argcomplete runbook
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    environ = {**os.environ, "PATH": f"{RUNBOOK.parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(
        ["bash", "-c", driver],
        cwd=project.root,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["stale_minutes="]
