"""The published pre-commit hook (.pre-commit-hooks.yaml), installed as a team would.

A scratch git repository names this repository as `repo:` at its HEAD commit, as the
README's three lines do; pre-commit clones it locally and pip-installs the package into
an environment of its own (the dependencies come from the configured package index), then
the hook runs on real commits: it lets a good runbook in and stops a broken one.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PRE_COMMIT = Path(sys.executable).with_name("pre-commit")


def git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    identity = ["-c", "user.name=Test", "-c", "user.email=test@example.com"]
    return subprocess.run(
        ["git", *identity, "-c", "commit.gpgsign=false", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # the hook's report goes to git's stderr
        text=True,
        timeout=600,  # the first commit builds the hook's environment
    )


def write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")


def test_the_hook_passes_a_good_runbook_and_stops_a_broken_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()
    team = tmp_path / "team"
    team.mkdir()
    monkeypatch.setenv("PRE_COMMIT_HOME", str(tmp_path / "pre-commit-home"))
    assert git(team, "init", "-q").returncode == 0
    write(
        team,
        ".pre-commit-config.yaml",
        f"""
        repos:
          - repo: {REPO}
            rev: {head}
            hooks: [{{id: runbook-validate}}]
        """,
    )
    write(team, "runner.yaml", "connections:\n  main: {sqlite: data.db}\n")
    write(
        team,
        "runbooks/good.yaml",
        """
        runbook: good
        connection: main
        steps:
          - id: one
            sql: select 1
          - id: fresh
            check: row-count
        """,
    )
    write(
        team,
        "checks/row-count.yaml",
        """
        check: row-count
        steps:
          - id: count
            connection: main
            sql: select count(*) as n from sqlite_master
        """,
    )
    installed = subprocess.run(
        [str(PRE_COMMIT), "install"], cwd=team, capture_output=True, text=True, timeout=60
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr

    git(team, "add", "-A")
    good = git(team, "commit", "-m", "a good runbook")
    assert good.returncode == 0, good.stdout
    assert "runbook validate" in good.stdout and "Passed" in good.stdout

    write(
        team,
        "runbooks/broken.yaml",
        """
        runbook: broken
        connection: main
        steps:
          - id: one
            sql: select 1
            tresholds: {}
        """,
    )
    git(team, "add", "-A")
    broken = git(team, "commit", "-m", "a broken runbook")
    assert broken.returncode == 1, broken.stdout
    assert "Failed" in broken.stdout
    assert (
        "runbooks/broken.yaml:6:5: error: steps[0]: unknown key 'tresholds' "
        "(did you mean 'thresholds'?)"
    ) in broken.stdout
    log = git(team, "log", "--format=%s").stdout.splitlines()
    assert log == ["a good runbook"]

    # The whole library is validated, not only the staged files: a commit touching
    # only runner.yaml is stopped by the broken runbook already in the repository.
    assert git(team, "commit", "-q", "--no-verify", "-m", "bypassed").returncode == 0
    write(team, "runner.yaml", "connections:\n  main: {sqlite: other.db}\n")
    git(team, "add", "runner.yaml")
    config_only = git(team, "commit", "-m", "another database")
    assert config_only.returncode == 1, config_only.stdout
    assert "runbooks/broken.yaml:6:5" in config_only.stdout
