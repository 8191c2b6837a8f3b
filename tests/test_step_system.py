"""The system step reading this host with psutil: the disk of tmp_path against
shutil.disk_usage, real child processes found by a unique marker in their command line,
memory and load in range, and the CPU sample's wait through an injected sleep."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import psutil
import pytest
from services import SLEEPER, services, start_service

from runner.base.abort import RunAbort
from runner.base.errors import Aborted, StepError, StepTimeout
from runner.cli import main
from runner.language.build import build_step
from runner.language.model import Step
from runner.reports.summary import value_summary
from runner.steps import STEP_TYPES, executor
from runner.steps.context import StepContext
from runner.steps.system import SystemStep

REPO = Path(__file__).resolve().parent.parent
#: Far more than disk usage moves while a test reads it twice, far less than a disk.
DRIFT = 256 * 1024 * 1024


def step(**system: Any) -> Step:
    return build_step({"id": "host", "system": system}, STEP_TYPES)


def run(
    config: Step,
    mode: str = "run",
    timeout: float = 30.0,
    sleep: Callable[[float], None] = lambda seconds: None,
    **scope: Any,
) -> dict[str, Any]:
    ctx = StepContext(scope=scope, timeout=timeout, mode=mode, sleep=sleep)
    return SystemStep().run(config, ctx)


@pytest.fixture
def spawn() -> Iterator[Callable[[str], psutil.Process]]:
    """Starts a stand-in service with `marker` in its argv (tests/services.py)."""
    with services() as started:

        def start(marker: str) -> psutil.Process:
            started.append(start_service(marker))
            return started[-1]

        yield start


def marker() -> str:
    return f"runbook-test-{uuid.uuid4().hex}"


def test_registered_under_its_name() -> None:
    assert isinstance(executor("system"), SystemStep)


# -- the readings ----------------------------------------------------------------------------


def test_disk_of_a_folder_is_its_file_system_as_shutil_reads_it(tmp_path: Path) -> None:
    values = run(step(disk=str(tmp_path)))
    expected = shutil.disk_usage(tmp_path)
    assert values["disk_path"] == str(tmp_path)
    assert values["disk_total_bytes"] == expected.total
    assert abs(values["disk_used_bytes"] - expected.used) < DRIFT
    assert abs(values["disk_free_bytes"] - expected.free) < DRIFT
    used, free = values["disk_used_bytes"], values["disk_free_bytes"]
    assert values["disk_percent"] == pytest.approx(100 * used / (used + free), abs=0.1)
    assert set(values) == {
        "disk_percent",
        "disk_used_bytes",
        "disk_free_bytes",
        "disk_total_bytes",
        "disk_path",
    }


def test_a_disk_path_that_does_not_exist_is_an_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such"
    with pytest.raises(StepError, match=f"system disk: no such file or folder: {missing}$"):
        run(step(disk=str(missing)))


def test_memory_and_load_are_in_range() -> None:
    values = run(step(memory=True, load=True))
    assert 0 <= values["memory_percent"] <= 100
    assert 0 < values["memory_available_bytes"] <= values["memory_total_bytes"]
    assert values["memory_total_bytes"] == psutil.virtual_memory().total
    assert values["cpu_count"] == psutil.cpu_count() >= 1
    loads = [values["load_1"], values["load_5"], values["load_15"]]
    assert min(loads) >= 0
    assert loads == pytest.approx(list(os.getloadavg()), abs=1.0)  # the same, a moment later
    assert values["load_per_cpu"] == pytest.approx(values["load_1"] / values["cpu_count"], abs=0.01)
    assert "disk_percent" not in values and "cpu_percent" not in values


def test_a_process_is_found_by_text_in_its_command_line_and_counted(spawn) -> None:
    text = marker()
    first, second = spawn(text), spawn(text)
    spawn(marker())  # another marker: not counted
    values = run(step(process=text))
    assert values["process_count"] == 2
    assert values["process_pids"] == sorted([first.pid, second.pid])


def test_a_process_is_found_by_its_name(spawn) -> None:
    child = spawn(marker())
    name = psutil.Process(child.pid).name()  # python3.11, as ps shows it
    assert child.pid in run(step(process=name))["process_pids"]


def test_no_process_with_the_text_counts_zero(spawn) -> None:
    spawn(marker())
    assert run(step(process=marker())) == {"process_count": 0, "process_pids": []}


def test_the_text_is_case_sensitive_like_grep(spawn) -> None:
    text = marker()
    spawn(text)
    assert run(step(process=text.upper()))["process_count"] == 0


def test_process_text_may_be_a_template(spawn) -> None:
    text = marker()
    child = spawn(text)
    values = run(step(process="{{ inputs.name }}"), inputs={"name": text})
    assert values["process_pids"] == [child.pid]


def test_the_runners_own_child_processes_are_not_counted(spawn) -> None:
    text = marker()
    other = spawn(text)
    child = subprocess.Popen([sys.executable, "-c", SLEEPER, text], stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None and int(child.stdout.readline()) == child.pid
        assert run(step(process=text))["process_pids"] == [other.pid]
    finally:
        child.kill()
        child.wait()


def test_the_processes_that_started_the_runner_are_not_counted(project, spawn) -> None:
    # How cron and Nagios call it: a shell, timeout, then the runner, the text in each
    # one's command line. `; exit $?` keeps the shell from handing itself over to timeout.
    project.runbook(
        "proc",
        """
        runbook: proc
        inputs:
          process: {type: string}
        steps:
          - id: p
            system: {process: "{{ inputs.process }}"}
        """,
    )
    text = marker()
    command = f"timeout 60 {sys.executable} -m runner run proc --param process={text}"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for started in (False, True):
        running = [spawn(text).pid] if started else []
        ran = subprocess.run(
            ["sh", "-c", f"{command} --format json; exit $?"],
            cwd=project.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        values = json.loads(ran.stdout)["steps"][0]["values"]
        assert values == {"process_count": len(running), "process_pids": running}, ran.stderr


def test_cpu_is_sampled_over_the_interval_with_the_runs_sleep() -> None:
    slept: list[float] = []
    values = run(step(cpu="250ms"), sleep=slept.append)
    assert slept == [0.25]
    assert 0 <= values["cpu_percent"] <= 100
    slept.clear()
    run(step(cpu=True, memory=True), sleep=slept.append)
    assert slept == [0.5]


def test_a_cpu_sample_longer_than_the_timeout_stops_at_the_timeout() -> None:
    slept: list[float] = []
    with pytest.raises(StepTimeout, match="cpu: 10s is longer than the step's timeout 2s"):
        run(step(cpu="10s"), timeout=2.0, sleep=slept.append)
    assert slept == [2.0]


def test_a_run_stopped_during_the_cpu_sample_reads_nothing() -> None:
    abort = RunAbort()
    stop = lambda seconds: abort.abort("Ctrl-C")  # noqa: E731 (stopped while it waits)
    ctx = StepContext(scope={}, timeout=30.0, sleep=stop, abort=abort)
    with pytest.raises(Aborted, match="Ctrl-C"):
        SystemStep().run(step(cpu="1s"), ctx)


def test_several_readings_in_one_step(tmp_path: Path) -> None:
    values = run(step(disk=str(tmp_path), memory=True, load=True, cpu="1ms", process=marker()))
    for key in ("disk_percent", "memory_percent", "load_1", "cpu_percent", "process_count"):
        assert key in values


# -- reports and dry runs --------------------------------------------------------------------


def test_summary_in_a_few_words() -> None:
    system = SystemStep()
    gib = 1024**3
    assert system.summary({"disk_percent": 42.4, "disk_total_bytes": 250 * gib}) == (
        "disk 42% of 250.0 GiB"
    )
    assert system.summary({"process_count": 3, "process_pids": [1, 2, 3]}) == "3 processes"
    assert system.summary({"process_count": 1}) == "1 process"
    values = {"memory_percent": 63.0, "load_1": 0.5, "load_per_cpu": 0.25, "cpu_percent": 12.0}
    assert system.summary(values) == "memory 63%, load 0.50 (0.25 per CPU), cpu 12%"
    assert system.summary({"skipped": True}) is None


def test_dry_run_reads_nothing_and_describes_what_it_would(tmp_path: Path) -> None:
    config = step(disk=str(tmp_path / "not-yet"), cpu="2s", process="{{ inputs.name }}")
    ctx = StepContext(scope={"inputs": {"name": "edi"}}, timeout=60.0, mode="dry-run")
    described = SystemStep().describe(config, ctx)
    assert described == {"disk": str(tmp_path / "not-yet"), "cpu": "2s", "process": "edi"}
    assert SystemStep().rendered_summary(described, "dry-run") == (
        f"would read the disk of {tmp_path / 'not-yet'}, cpu over 2s, processes matching 'edi'"
    )
    assert run(config, mode="dry-run", inputs={"name": "edi"})["skipped"] is True


# -- through a runbook -----------------------------------------------------------------------

HOST = """
runbook: host
inputs:
  disk_warning: {type: number, default: 100}
steps:
  - id: disk
    system: {disk: data}
    thresholds:
      disk_percent: {warning: "{{ inputs.disk_warning }}", critical: 101}
  - id: host
    system: {memory: true, load: true, cpu: 10ms}
    thresholds:
      memory_percent: {warning: 101, critical: 102}
  - id: processor
    system: {process: "{{ inputs.marker }}"}
    assert: [process_count >= 1]
"""


def test_in_a_runbook_thresholds_and_asserts_judge(project, spawn) -> None:
    (project.root / "data").mkdir()
    text = marker()
    child = spawn(text)
    project.runbook("host", HOST.replace("inputs:\n", f"inputs:\n  marker: {{default: {text}}}\n"))
    result = project.run("host")
    assert {step.id: str(step.status) for step in result.steps} == dict.fromkeys(
        ("disk", "host", "processor"), "OK"
    )
    disk, host, processor = result.steps
    assert disk.values["disk_path"] == str(project.root / "data")
    assert disk.evaluations[0].text.startswith("disk_percent = ")
    assert processor.values["process_pids"] == [child.pid]
    assert value_summary(host).startswith("memory ")

    # the input lowers the warning under what the disk holds: the threshold fires
    warned = project.run("host", {"disk_warning": -1})
    assert str(warned.status) == "WARNING"
    assert warned.steps[0].evaluations[0].text.startswith("disk_percent = ")
    assert "> warning -1" in warned.steps[0].evaluations[0].text

    gone = project.run("host", {"marker": marker()})
    assert str(gone.steps[2].status) == "CRITICAL"
    assert gone.steps[2].values == {"process_count": 0, "process_pids": []}


def test_a_disk_path_that_does_not_exist_fails_the_step(project) -> None:
    project.runbook("disk", "runbook: disk\nsteps:\n  - id: d\n    system: {disk: nowhere}\n")
    result = project.run("disk")
    assert str(result.steps[0].status) == "CRITICAL"
    assert result.steps[0].error == f"system disk: no such file or folder: {project.root}/nowhere"


def test_a_cpu_sample_ends_at_the_runs_deadline(project) -> None:
    project.runbook(
        "busy",
        "runbook: busy\ndeadline: 1s\nsteps:\n  - id: cpu\n    system: {cpu: 30s}\n",
    )
    slept: list[float] = []
    result = project.run("busy", sleep=slept.append)
    assert str(result.status) == "UNKNOWN"
    assert result.steps[0].outcome == "timed_out"
    assert len(slept) == 1 and slept[0] <= 1.0


def test_runbook_run_exit_codes_and_dry_run(project, spawn, capsys) -> None:
    """`runbook run` itself: the threshold's input from --param sets the exit code."""
    (project.root / "data").mkdir()
    project.runbook("host", HOST.replace("inputs:\n", "inputs:\n  marker: {type: string}\n"))
    text = marker()
    spawn(text)
    assert main(["run", "host", "--param", f"marker={text}"]) == 0, capsys.readouterr()
    out = capsys.readouterr().out
    assert "OK - 3 ok" in out
    code = main(["run", "host", "--param", f"marker={text}", "--param", "disk_warning=0"])
    out = capsys.readouterr().out
    assert code == 1, out
    assert "disk_percent = " in out and "> warning 0" in out

    # its JSON is what schemas/run-result.schema.json documents
    assert main(["run", "host", "--param", f"marker={text}", "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    schema = json.loads((REPO / "schemas" / "run-result.schema.json").read_text("utf-8"))
    jsonschema.Draft202012Validator(schema).validate(document)
    assert [step["action"] for step in document["steps"]] == ["system"] * 3

    assert main(["run", "host", "--param", f"marker={text}", "--dry-run"]) == 0
    out = capsys.readouterr().out
    lines = [line.strip() for line in out.splitlines()]
    assert "would read the disk of" in out and f"disk: {project.root / 'data'}" in lines
    assert "would read memory, load, cpu over 10ms" in out
    assert "would read processes matching" in out and f"process: {text}" in lines


def test_the_runner_does_not_count_itself(project, spawn) -> None:
    """`runbook run procs --param marker=X` holds X in its own command line: not counted."""
    project.runbook(
        "procs",
        """
        runbook: procs
        inputs:
          marker: {type: string}
        steps:
          - id: p
            system: {process: "{{ inputs.marker }}"}
        """,
    )
    text = marker()
    argv = [sys.executable, "-m", "runner", "run", "procs", "--param", f"marker={text}"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("RUNBOOK_CONFIG", None)

    def count() -> int:
        done = subprocess.run(
            [*argv, "--format", "json"], cwd=project.root, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        return int(json.loads(done.stdout)["steps"][0]["values"]["process_count"])

    assert count() == 0
    spawn(text)
    assert count() == 1


# -- validation ------------------------------------------------------------------------------


def test_validation_names_file_line_and_key(project) -> None:
    project.runbook(
        "bad",
        """
        runbook: bad
        steps:
          - system: {}
          - system:
              memory: false
              load: yes please
              cpu: 0
              process: "  "
          - system: {cpu: soon, proces: x}
          - system: {cpu: false, disk: "{{ inputs.path }}"}
        """,
    )
    found = project.library().problems(project.root / "runbooks" / "bad.yaml")
    assert [p.format() for p in sorted(found, key=lambda p: (p.line, p.col))] == [
        "runbooks/bad.yaml:3:13: error: steps[0].system: missing required key 'disk' or 'memory' or 'load' or 'cpu' or 'process' (set at least one of them)",
        "runbooks/bad.yaml:5:15: error: steps[1].system.memory: takes only true, not false (write memory: true to read it, or remove the key)",
        "runbooks/bad.yaml:6:13: error: steps[1].system.load: takes only true, not 'yes please' (write load: true to read it, or remove the key)",
        "runbooks/bad.yaml:7:12: error: steps[1].system.cpu: 0 is no time to sample over: give a duration above 0 (cpu: true samples over 500ms)",
        "runbooks/bad.yaml:8:16: error: steps[1].system.process: the text is blank: every process would match (write part of the process's name or command line, such as edi-processor)",
        "runbooks/bad.yaml:9:19: error: steps[2].system.cpu: 'soon' is not a duration: write a number with a unit, such as 30s, 5m, 1h30m or 2d (cpu: true samples over 500ms)",
        "runbooks/bad.yaml:9:25: error: steps[2].system: unknown key 'proces' (did you mean 'process'?)",
        "runbooks/bad.yaml:10:19: error: steps[3].system.cpu: takes true or a duration, not false (cpu: true samples over 500ms)",
        "runbooks/bad.yaml:10:32: error: steps[3].system.disk: unknown input 'path' (declare it under `inputs:`)",
    ]


def test_a_valid_system_step_passes_validation(project) -> None:
    project.runbook(
        "good",
        """
        runbook: good
        steps:
          - id: disk
            system: {disk: /}
            thresholds:
              disk_percent: {warning: 80, critical: 90}
          - id: host
            system: {memory: true, load: true, cpu: true}
          - id: host2
            system: {cpu: 1s, process: edi-processor}
            assert: [process_count >= 1]
        """,
    )
    assert project.library().problems(project.root / "runbooks" / "good.yaml") == []
