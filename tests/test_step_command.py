"""The command step, running real programs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO

from runner.base.abort import RunAbort
from runner.base.errors import Aborted, StepError, StepTimeout
from runner.base.status import Status
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


def run(
    config: Any, ctx: StepContext | None = None, grace: float | None = None, **options: Any
) -> dict[str, Any]:
    command = CommandStep()
    if grace is not None:
        command.grace = grace
    return command.run(step(config, **options), ctx or context())


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers signal 0 until its parent reaps it
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ", 1)[1].startswith("Z"))


def pids_when_written(pid_file: Path) -> list[int]:
    """The pids a script writes to `pid_file` (as `echo $$ $! > file`), once it has."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        text = pid_file.read_text() if pid_file.exists() else ""
        if text.endswith("\n"):
            return [int(pid) for pid in text.split()]
        time.sleep(0.01)
    raise AssertionError(f"{pid_file} was never written")


def assert_all_gone(pids: list[int]) -> None:
    """None of `pids` runs any more: gone, or a zombie (which runs nothing) that is waiting
    for a PID 1 to reap it; a bounded wait, since an orphan is reaped by init, not by us."""
    deadline = time.monotonic() + 5
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [pid for pid in pids if alive(pid)] == []


# The shell starts a grandchild (sleep) in the background and waits for it: a process
# group of two, which must leave nothing behind when stopped.
GRANDCHILD = "sleep 60 & echo $$ $! > {pid_file}; wait"


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


def test_abort_from_another_thread_stops_the_whole_process_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "pids"
    ctx = context(timeout=60)
    aborter = threading.Thread(
        target=lambda: (pids_when_written(pid_file), ctx.abort.abort("the scheduler"))
    )
    aborter.start()
    started = time.monotonic()
    with pytest.raises(Aborted) as caught:
        run(["sh", "-c", GRANDCHILD.format(pid_file=pid_file)], ctx)
    aborter.join()
    assert caught.value.by == "the scheduler"
    assert time.monotonic() - started < 5  # promptly, not at the 60 s timeout
    assert_all_gone(pids_when_written(pid_file))


def test_a_command_is_not_started_once_the_run_is_aborted(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    ctx = context()
    ctx.abort.abort("the test")
    with pytest.raises(Aborted) as caught:
        run(["touch", str(marker)], ctx)
    assert caught.value.by == "the test"
    assert not marker.exists()


def test_sigterm_comes_first_and_the_output_so_far_is_kept() -> None:
    code = (
        "import signal, sys, time\n"
        "def stop(*_):\n"
        "    print('cleaned up', flush=True)\n"
        "    sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, stop)\n"
        "print('started', flush=True)\n"
        "time.sleep(60)\n"
    )
    started = time.monotonic()
    with pytest.raises(StepTimeout) as caught:
        run([PY, "-c", code], context(timeout=1), grace=30)
    assert caught.value.result["stdout"] == "started\ncleaned up\n"
    assert caught.value.result["exit_code"] == 0
    assert time.monotonic() - started < 10  # the grace is not waited out once all is gone


def test_a_group_that_ignores_sigterm_is_killed_after_the_grace(tmp_path: Path) -> None:
    pid_file = tmp_path / "pids"
    # both the shell and its grandchild inherit the ignored SIGTERM
    script = "trap '' TERM; " + GRANDCHILD.format(pid_file=pid_file)
    started = time.monotonic()
    with pytest.raises(StepTimeout) as caught:
        run(["sh", "-c", script], context(timeout=0.5), grace=0.5)
    elapsed = time.monotonic() - started
    assert "did not finish within 500ms: it was killed" in str(caught.value)
    assert caught.value.result["exit_code"] == -signal.SIGKILL
    assert 1.0 <= elapsed < 5  # the timeout, then the whole grace, then SIGKILL
    assert_all_gone(pids_when_written(pid_file))


def test_an_aborted_command_ends_the_run_aborted(project: Any, tmp_path: Path) -> None:
    pid_file = tmp_path / "pids"
    project.runbook(
        "stall",
        f"""
        runbook: stall
        steps:
          - id: wait
            timeout: 60s
            command: [sh, -c, "{GRANDCHILD.format(pid_file=pid_file)}"]
          - id: after
            command: [touch, {tmp_path / "after"}]
        """,
    )
    abort = RunAbort()
    aborter = threading.Thread(
        target=lambda: (pids_when_written(pid_file), abort.abort("the scheduler"))
    )
    aborter.start()
    from runner.service.runs import RunRequest

    result = project.service().run(RunRequest("stall"), abort=abort)
    aborter.join()
    assert result.outcome == "aborted" and result.status is Status.UNKNOWN
    assert result.error == "aborted by the scheduler; open transactions were rolled back"
    assert [(s.id, s.outcome) for s in result.steps] == [("wait", "aborted")]
    assert not (tmp_path / "after").exists()
    assert_all_gone(pids_when_written(pid_file))


def test_sigterm_to_runbook_run_leaves_no_process_of_the_command(
    project: Any, tmp_path: Path
) -> None:
    pid_file = tmp_path / "pids"
    # The pids are written a moment after the start: a SIGTERM that lands while the
    # runner is still inside Popen (before it knows the pid) is a known gap, not tested here.
    script = "sleep 60 & sleep 0.3; echo $$ $! > " + str(pid_file) + "; wait"
    project.runbook(
        "stall",
        f"""
        runbook: stall
        steps:
          - id: wait
            timeout: 60s
            command: [sh, -c, "{script}"]
        """,
    )
    process = subprocess.Popen(
        [PY, "-m", "runner", "run", "stall", "--format", "json"],
        cwd=project.root,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    pids = pids_when_written(pid_file)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 3, err
    assert '"outcome": "aborted"' in out
    assert_all_gone(pids)
