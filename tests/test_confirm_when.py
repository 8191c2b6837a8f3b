"""A step with `confirm:` needs --yes without a terminal only when it may run: a `when`
that the inputs alone rule out (its own or a group's) does not need it; one that reads
results, or a loop's item, may be true and still does."""

from __future__ import annotations

from typing import Any

import pytest

from runner.base.errors import ConfirmationRefused
from runner.base.status import Status

RUNBOOK = """
runbook: t
kind: troubleshooting
connection: main
inputs:
  fix: {type: boolean, default: false}
steps:
  - id: look
    sql: SELECT COUNT(*) AS n FROM d
  - id: fix_group
    when: inputs.fix
    steps:
      - id: wipe
        confirm: Delete everything?
        sql: DELETE FROM d
"""


@pytest.fixture
def table(project: Any) -> Any:
    project.sql("CREATE TABLE d (x INTEGER)", "INSERT INTO d VALUES (1)")
    return project


def test_a_confirm_the_inputs_rule_out_runs_without_yes(table: Any) -> None:
    table.runbook("t", RUNBOOK)
    run = table.run("t")
    assert run.status is Status.OK
    assert [s.status for s in run.steps] == [Status.OK, Status.SKIPPED]
    assert table.query("SELECT COUNT(*) FROM d") == [(1,)]


def test_a_confirm_the_inputs_let_run_is_refused_before_anything_runs(table: Any) -> None:
    table.runbook("t", RUNBOOK)
    with pytest.raises(ConfirmationRefused, match="step wipe must be confirmed"):
        table.run("t", {"fix": "true"})
    assert table.query("SELECT COUNT(*) FROM d") == [(1,)]
    assert str(table.run("t", {"fix": "true"}, assume_yes=True).status) == "OK"
    assert table.query("SELECT COUNT(*) FROM d") == [(0,)]


@pytest.mark.parametrize(
    "when",
    ["steps.look.value > 0", "inputs.fix or steps.look.value > 0", "steps.look is defined"],
    ids=["reads a result", "a result decides", "is defined"],
)
def test_a_when_that_reads_results_may_be_true_so_it_is_refused(table: Any, when: str) -> None:
    table.runbook("t", RUNBOOK.replace("when: inputs.fix", f"when: {when}"))
    with pytest.raises(ConfirmationRefused):
        table.run("t")
    assert table.query("SELECT COUNT(*) FROM d") == [(1,)]
