"""A step that needs a confirmation but that the inputs switch off (`when: inputs.fix`)
does not stop a run without a terminal: a troubleshooting runbook's opt-in fix leaves its
diagnosis schedulable. Switched on, or guarded by what only the run makes, it is asked
for as before."""

from __future__ import annotations

import pytest

from runner.base.errors import ConfirmationRefused
from runner.base.status import Status

OPT_IN = """
runbook: t
kind: troubleshooting
connection: main
inputs:
  fix: {type: boolean, default: false}
steps:
  - id: look
    sql: SELECT COUNT(*) AS n FROM d
  - id: wipe
    when: inputs.fix
    confirm: Delete everything?
    sql: DELETE FROM d
"""
GUARDED_BY_THE_RUN = """
runbook: t
kind: troubleshooting
connection: main
steps:
  - id: look
    sql: SELECT COUNT(*) AS n FROM d
  - id: later
    when: steps.look.row.n > 5
    confirm: Delete when there are many?
    sql: DELETE FROM d
"""


@pytest.fixture
def table(project):
    project.sql("CREATE TABLE d (x INTEGER)", "INSERT INTO d VALUES (1)")
    return project


def test_a_confirm_step_the_inputs_switch_off_is_not_asked_for(table) -> None:
    table.runbook("t", OPT_IN)
    run = table.run("t")
    assert run.status is Status.OK
    assert [str(step.status) for step in run.steps] == ["OK", "SKIPPED"]
    assert table.query("SELECT COUNT(*) FROM d") == [(1,)]


def test_switched_on_or_guarded_by_the_run_it_is_asked_for(table) -> None:
    table.runbook("t", OPT_IN)
    with pytest.raises(ConfirmationRefused, match="step wipe must be confirmed"):
        table.run("t", {"fix": "true"})
    assert table.run("t", {"fix": "true"}, assume_yes=True).status is Status.OK
    assert table.query("SELECT COUNT(*) FROM d") == [(0,)]
    table.sql("INSERT INTO d VALUES (1)")
    table.runbook("t", GUARDED_BY_THE_RUN)  # reads a step's result: unknown before the run
    with pytest.raises(ConfirmationRefused, match="step later must be confirmed"):
        table.run("t")
    assert table.query("SELECT COUNT(*) FROM d") == [(1,)]
    run = table.run("t", assume_yes=True)  # confirmed; then its `when` is false: skipped
    assert [str(step.status) for step in run.steps] == ["OK", "SKIPPED"]


IN_A_GROUP = """
runbook: t
kind: troubleshooting
connection: main
inputs:
  fix: {type: boolean, default: false}
steps:
  - id: look
    sql: SELECT x FROM d
  - id: fix_each
    when: inputs.fix and steps.look.rowcount > 0
    for_each: steps.look.rows
    as: row
    steps:
      - id: wipe
        confirm: "Delete {{ row.x }}?"
        sql: DELETE FROM d WHERE x = {{ row.x }}
"""


def test_a_confirm_inside_a_group_the_inputs_switch_off_is_not_asked_for(table) -> None:
    """wms-stuck-queries' shape: the question is on a for_each's nested step, and the
    for_each's `when` (inputs first, then a result) is what switches it off."""
    table.runbook("t", IN_A_GROUP)
    run = table.run("t")
    assert [str(step.status) for step in run.steps] == ["OK", "SKIPPED"]
    with pytest.raises(ConfirmationRefused, match="step wipe must be confirmed"):
        table.run("t", {"fix": "true"})
    assert table.query("SELECT COUNT(*) FROM d") == [(1,)]
    assert table.run("t", {"fix": "true"}, assume_yes=True).status is Status.OK
    assert table.query("SELECT COUNT(*) FROM d") == [(0,)]
