"""The run service in-process: several runs in one process, as the scheduler and the web
server will make them. Nothing of one run may leak into the next: not an abort, not a
cached runbook."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from runner.base.abort import RunAbort
from runner.base.errors import InvalidInput, NotFound
from runner.base.status import Status
from runner.service.runs import RunRequest

# Counts for ever: only the run's abort (or its 60 s timeout) ends it.
ENDLESS = """
runbook: endless
connection: main
steps:
  - id: spin
    timeout: 60s
    sql: |
      WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c)
      SELECT count(*) AS n FROM c
"""

GAUGE = """
runbook: gauge
connection: main
steps:
  - id: level
    sql: SELECT level FROM gauge
    thresholds:
      level: {{warning: {warning}, critical: 90}}
"""


@pytest.fixture
def project(project: Any) -> Any:
    project.config("connections:\n  main: {sqlite: data.db}\nstate: var/runner.db\n")
    project.sql("CREATE TABLE gauge (level INTEGER)", "INSERT INTO gauge VALUES (50)")
    project.runbook("endless", ENDLESS)
    project.runbook("gauge", GAUGE.format(warning=60))
    return project


def _run_in_thread(service: Any, request: RunRequest, abort: RunAbort) -> dict[str, Any]:
    outcome: dict[str, Any] = {}

    def target() -> None:
        outcome["result"] = service.run(request, abort=abort)

    thread = threading.Thread(target=target)
    thread.start()
    outcome["thread"] = thread
    return outcome


def _wait_until_running(project: Any, runbook: str) -> None:
    """Until the run is recorded as started (its statement is then under way or next)."""
    from runner.history.store import StateStore

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with StateStore(project.library().config.state) as store:
            if any(row["outcome"] == "running" for row in store.history(runbook)):
                return
        time.sleep(0.01)
    raise AssertionError(f"{runbook} never started")


def test_an_aborted_run_leaves_the_next_runs_of_the_process_alone(project: Any) -> None:
    service = project.service()
    assert service.run(RunRequest("gauge")).status is Status.OK

    abort = RunAbort()
    running = _run_in_thread(service, RunRequest("endless"), abort)
    _wait_until_running(project, "endless")
    abort.abort("the test")
    running["thread"].join(timeout=30)
    aborted = running["result"]
    assert aborted.outcome == "aborted" and aborted.status is Status.UNKNOWN
    assert aborted.error == "aborted by the test; open transactions were rolled back"
    assert [(s.id, s.outcome) for s in aborted.steps] == [("spin", "aborted")]

    # The same process, the same service: the next runs are not interrupted.
    after = service.run(RunRequest("gauge"))
    assert after.outcome == "completed" and after.status is Status.OK
    assert after.steps[0].values["row"] == {"level": 50}
    again = project.service().run(RunRequest("gauge"))
    assert again.outcome == "completed" and again.status is Status.OK


def test_a_runbook_edited_between_two_runs_is_read_again(project: Any) -> None:
    service = project.service()
    first = service.run(RunRequest("gauge"))
    assert first.status is Status.OK
    assert first.steps[0].evaluations[0].text == "level = 50 <= warning 60"

    project.runbook("gauge", GAUGE.format(warning=40))  # an operator lowers the threshold
    second = service.run(RunRequest("gauge"))
    assert second.status is Status.WARNING
    assert second.steps[0].evaluations[0].text == "level = 50 > warning 40"


def test_a_runbook_broken_between_two_runs_is_refused_then_runs_again_fixed(
    project: Any,
) -> None:
    service = project.service()
    assert service.run(RunRequest("gauge")).status is Status.OK
    project.runbook("gauge", GAUGE.format(warning=60).replace("thresholds:", "threshold:"))
    with pytest.raises(InvalidInput) as refused:
        service.run(RunRequest("gauge"))
    assert "unknown key 'threshold'" in refused.value.format_message()
    project.runbook("gauge", GAUGE.format(warning=60))
    assert service.run(RunRequest("gauge")).status is Status.OK


def test_a_runbook_added_or_removed_between_two_runs_is_seen(project: Any) -> None:
    service = project.service()
    with pytest.raises(NotFound):
        service.run(RunRequest("added"))
    project.runbook("added", GAUGE.replace("runbook: gauge", "runbook: added").format(warning=60))
    assert service.run(RunRequest("added")).status is Status.OK
    (project.root / "runbooks" / "added.yaml").unlink()
    with pytest.raises(NotFound):
        service.run(RunRequest("added"))


def test_runs_of_one_process_are_recorded_each_with_its_own_id(project: Any) -> None:
    from runner.history.store import StateStore

    service = project.service()
    ids = [service.run(RunRequest("gauge", trigger="schedule")).run_id for _ in range(3)]
    assert len(set(ids)) == 3
    with StateStore(project.library().config.state) as store:
        rows = store.history("gauge")
    assert sorted(row["run_id"] for row in rows) == sorted(ids)
    assert {row["trigger"] for row in rows} == {"schedule"}


def test_the_public_api_runs_a_runbook_as_its_docstring_shows(project: Any) -> None:
    import runner

    service = runner.RunService(runner.load_config(project.root / "runner.yaml"))
    result = service.run(runner.RunRequest("gauge", params={}), abort=RunAbort())
    assert isinstance(result, runner.RunResult)
    assert (result.status, result.exit_code) == (Status.OK, 0)
    assert set(runner.__all__) <= set(dir(runner)) | set(runner._LAZY)
