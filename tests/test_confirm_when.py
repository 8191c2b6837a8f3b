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


# --- what only the run makes: vars and run in the prediction, never an answer from a pipe --

VARS_OR_RUN = """
runbook: t
kind: troubleshooting
connection: main
inputs:
  fix: {type: boolean, default: false}
vars:
  force: "{{ env.FORCE_FIX | default('no') }}"
steps:
  - id: look
    sql: SELECT COUNT(*) AS n FROM d
  - id: wipe
    when: "inputs.fix or WHEN"
    confirm: Delete everything?
    sql: DELETE FROM d
"""


@pytest.mark.parametrize(
    "when, options",
    [
        ("(vars | default({})).get('force') == 'yes'", {"environ": {"FORCE_FIX": "yes"}}),
        ("run.trigger == 'fix'", {"trigger": "fix"}),
    ],
    ids=["a-var-switches-it-on", "the-run-switches-it-on"],
)
def test_a_when_reading_vars_or_run_is_predicted_with_them(table, when, options) -> None:
    """The prediction reads the scope the run reads: a var from the environment (or the
    run's trigger) that switches the step on makes the run refuse before it starts."""
    table.runbook("t", VARS_OR_RUN.replace("WHEN", when))
    asked: list[str] = []
    with pytest.raises(ConfirmationRefused, match="step wipe must be confirmed"):
        table.run("t", ask=lambda question: asked.append(question) or "y", **options)
    assert asked == [] and table.query("SELECT COUNT(*) FROM d") == [(1,)]
    run = table.run("t", environ={"FORCE_FIX": "no"})  # switched off: runs unasked
    assert [str(step.status) for step in run.steps] == ["OK", "SKIPPED"]


UNPREDICTABLE = """
runbook: t
kind: troubleshooting
connection: main
steps:
  - id: look
    sql: SELECT COUNT(*) AS n FROM d
  - id: wipe
    when: "(((steps | default({})).get('look') or {}).get('row') or {}).get('n', 0) > 0"
    confirm: Delete everything?
    sql: DELETE FROM d
  - id: after
    sql: SELECT 1 AS one
"""


def test_a_confirmation_the_prediction_missed_is_refused_never_asked(table) -> None:
    """A `when:` that reads a step's result through a default looks false before the run
    and is true during it: without a terminal the step is refused (an answer read from a
    pipe is no confirmation) and the run stops there; nothing changes."""
    table.runbook("t", UNPREDICTABLE)
    asked: list[str] = []
    run = table.run("t", ask=lambda question: asked.append(question) or "y")
    assert asked == []
    assert [step.outcome for step in run.steps] == ["ok", "refused", "not_run"]
    assert run.status is Status.CRITICAL
    assert run.steps[1].error == (
        "wipe: must be confirmed, and there is no terminal to ask: "
        "run it with --yes to confirm; the run stops here"
    )
    assert table.query("SELECT COUNT(*) FROM d") == [(1,)]
    run = table.run("t", assume_yes=True)
    assert [step.outcome for step in run.steps] == ["ok", "ok", "ok"]
    assert table.query("SELECT COUNT(*) FROM d") == [(0,)]


def test_a_no_on_a_terminal_stops_even_a_troubleshooting_run(table) -> None:
    """`not confirmed; the run stops here` is what happens, whatever `on_error` says."""
    table.runbook("t", UNPREDICTABLE)
    run = table.run("t", interactive=True, ask=lambda question: "n")
    assert [step.outcome for step in run.steps] == ["ok", "refused", "not_run"]
    assert table.query("SELECT COUNT(*) FROM d") == [(1,)]


def test_a_called_runbooks_confirmation_is_refused_without_a_terminal(table) -> None:
    """The prediction reads the runbook that is run, not the ones its steps call: a
    called runbook's confirmation is refused when it comes, never asked on stdin."""
    table.runbook(
        "wipe",
        """
        runbook: wipe
        kind: rollback
        connection: main
        steps:
          - id: wipe
            confirm: Delete everything?
            sql: DELETE FROM d
        """,
    )
    table.runbook(
        "t",
        """
        runbook: t
        kind: troubleshooting
        steps:
          - id: call
            runbook: wipe
        """,
    )
    asked: list[str] = []
    run = table.run("t", ask=lambda question: asked.append(question) or "y")
    assert asked == [] and run.steps[0].children[0].outcome == "refused"
    assert table.query("SELECT COUNT(*) FROM d") == [(1,)]
