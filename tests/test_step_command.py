"""The command step, running real programs."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from runner.base.errors import StepError, StepTimeout
from runner.language.build import build_step
from runner.language.model import Step
from runner.steps import STEP_TYPES, executor
from runner.steps.command import MAX_OUTPUT, CommandStep
from runner.steps.context import StepContext

PY = sys.executable


def step(config: Any, **options: Any) -> Step:
    return build_step({"id": "cmd", "command": config, **options}, STEP_TYPES)


def context(mode: str = "run", timeout: float = 30.0, **scope: Any) -> StepContext:
    return StepContext(scope={"env": {}, **scope}, timeout=timeout, mode=mode)


def run(config: Any, ctx: StepContext | None = None, **options: Any) -> dict[str, Any]:
    return CommandStep().run(step(config, **options), ctx or context())


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers signal 0 until its parent reaps it
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ", 1)[1].startswith("Z"))


def test_registered_under_its_name() -> None:
    assert isinstance(executor("command"), CommandStep)


def test_argv_runs_and_output_is_captured() -> None:
    result = run([PY, "-c", "import sys; print('out'); print('err', file=sys.stderr)"])
    assert result == {"exit_code": 0, "stdout": "out\n", "stderr": "err\n"}


def test_argv_items_are_single_arguments_without_a_shell() -> None:
    result = run([PY, "-c", "import sys; print(sys.argv[1:])", "a b; echo injected", "$HOME"])
    assert result["stdout"] == "['a b; echo injected', '$HOME']\n"


def test_non_zero_exit_is_a_result_not_an_error() -> None:
    result = run([PY, "-c", "import sys; print('partial'); sys.exit(3)"])
    assert result["exit_code"] == 3
    assert result["stdout"] == "partial\n"


def test_missing_executable_is_final() -> None:
    with pytest.raises(StepError) as caught:
        run(["no-such-program-runbook-test", "--version"])
    assert str(caught.value) == "command not found: no-such-program-runbook-test"
    assert not caught.value.transient


def test_templates_are_rendered_in_argv() -> None:
    ctx = context(inputs={"staging_id": 42, "name": "O'Brien & co"})
    result = run(
        [
            PY,
            "-c",
            "import sys; print(sys.argv[1:])",
            "{{ inputs.staging_id }}",
            "--name={{ inputs.name }}",
        ],
        ctx,
    )
    assert result["stdout"] == "['42', \"--name=O'Brien & co\"]\n"


def test_env_is_merged_over_the_environment_and_rendered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RUNBOOK_TEST_INHERITED", "kept")
    ctx = context(inputs={"region": "eu"})
    code = "import os; print(os.environ['RUNBOOK_TEST_INHERITED'], os.environ['REGION'])"
    result = run([PY, "-c", code], ctx, env={"REGION": "{{ inputs.region }}"})
    assert result["stdout"] == "kept eu\n"


def test_cwd_is_applied_and_rendered(tmp_path: Path) -> None:
    (tmp_path / "marker.txt").write_text("here")
    ctx = context(vars={"folder": str(tmp_path)})
    result = run([PY, "-c", "print(open('marker.txt').read())"], ctx, cwd="{{ vars.folder }}")
    assert result["stdout"] == "here\n"


def test_missing_cwd_is_final(tmp_path: Path) -> None:
    with pytest.raises(StepError, match="is not an existing directory"):
        run([PY, "-c", "pass"], cwd=str(tmp_path / "gone"))


def test_shell_string_refused_without_shell_true() -> None:
    with pytest.raises(StepError) as caught:
        run("echo hello | tr a-z A-Z")
    message = str(caught.value)
    assert "give a list" in message and "shell: true" in message
    assert not caught.value.transient


def test_shell_string_runs_with_shell_true() -> None:
    assert run("echo hello | tr a-z A-Z", shell=True)["stdout"] == "HELLO\n"


def test_shell_true_wants_a_string() -> None:
    with pytest.raises(StepError, match="with shell: true give the command as one string"):
        run(["echo", "hi"], shell=True)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ([], "command needs a list"),
        ({"run": "x"}, "command needs a list"),
        (["echo", ["a"]], "one value"),
    ],
    ids=["empty", "mapping", "nested-list"],
)
def test_bad_config_is_final(config: Any, message: str) -> None:
    with pytest.raises(StepError, match=message):
        CommandStep().describe(step(config), context())


def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "pids"
    # the shell starts a sleep in the background and waits for it: two processes to kill
    script = f"sleep 30 & echo $$ $! > {pid_file}; wait"
    with pytest.raises(StepTimeout) as caught:
        run(["sh", "-c", script], context(timeout=2))
    assert "did not finish within 2s: it was killed" in str(caught.value)
    assert caught.value.transient
    shell_pid, sleep_pid = map(int, pid_file.read_text().split())
    deadline = time.monotonic() + 5  # the killed sleep is reaped by init, not by us
    while (alive(shell_pid) or alive(sleep_pid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(shell_pid)
    assert not alive(sleep_pid)


def test_timeout_keeps_the_output_given_so_far() -> None:
    code = "import time; print('started', flush=True); time.sleep(30)"
    with pytest.raises(StepTimeout) as caught:
        run([PY, "-c", code], context(timeout=0.5))
    assert caught.value.result["stdout"] == "started\n"


def test_output_is_capped_and_says_so() -> None:
    code = f"import sys; sys.stdout.write('x' * {MAX_OUTPUT + 100})"
    result = run([PY, "-c", code])
    assert result["stdout"].startswith("x" * MAX_OUTPUT + "\n[truncated:")
    assert f"{MAX_OUTPUT + 100} bytes" in result["stdout"]


def test_output_is_decoded_leniently() -> None:
    code = "import sys; sys.stdout.buffer.write(b'caf\\xc3\\xa9 \\xff')"
    assert run([PY, "-c", code])["stdout"] == "café \ufffd"


@pytest.mark.parametrize("mode", ["rehearse", "dry-run"])
def test_not_run_when_rehearsing(tmp_path: Path, mode: str) -> None:
    marker = tmp_path / "ran"
    result = run(["touch", str(marker)], context(mode=mode))
    assert result == {"skipped": True, "reason": f"{mode}: commands are not run"}
    assert not marker.exists()


def test_describe_shows_rendered_argv_and_masks_secret_env() -> None:
    ctx = context(inputs={"db": "orders"}, env={"PG_PASSWORD": "hunter22"})
    shown = CommandStep().describe(
        step(
            ["pg_dump", "{{ inputs.db }}"],
            env={"PGPASSWORD": "{{ env.PG_PASSWORD }}", "PGHOST": "db1"},
            cwd="/",
        ),
        ctx,
    )
    assert shown == {
        "argv": ["pg_dump", "orders"],
        "env": {"PGPASSWORD": "***", "PGHOST": "db1"},
        "cwd": "/",
    }


def test_describe_shows_a_shell_string() -> None:
    ctx = context(inputs={"x": 1})
    shown = CommandStep().describe(step("echo {{ inputs.x }}", shell=True), ctx)
    assert shown == {"shell": "echo 1"}
