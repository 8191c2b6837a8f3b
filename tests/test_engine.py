"""The engine end to end on real SQLite files: statuses, retries, for_each, transactions."""

from __future__ import annotations

import pytest

from runner.base.errors import ConfirmationRefused, InputError
from runner.base.status import Status


def statuses(run):
    return {step.id: step.status for step in run.steps}


def test_thresholds_give_worst_status_and_readable_lines(project):
    project.sql("CREATE TABLE q (n INTEGER)", "INSERT INTO q VALUES (37)")
    project.runbook(
        "t",
        """
        runbook: t
        connection: main
        steps:
          - id: pending
            sql: SELECT n AS pending_count, 5 AS oldest_minutes FROM q
            thresholds:
              pending_count: {warning: 10, critical: 50}
              oldest_minutes: {warning: 60}
            hint: check the scheduler
          - id: low
            sql: SELECT 2 AS free_gb
            thresholds:
              free_gb: {warning: 10, critical: 5, direction: below}
        """,
    )
    run = project.run("t")
    assert statuses(run) == {"pending": Status.WARNING, "low": Status.CRITICAL}
    assert run.status is Status.CRITICAL and run.exit_code == 2
    texts = [e.text for e in run.steps[0].evaluations]
    assert texts == ["pending_count = 37 > warning 10", "oldest_minutes = 5 <= warning 60"]
    assert run.steps[1].evaluations[0].text == "free_gb = 2 < critical 5"


def test_templated_threshold_uses_inputs(project):
    project.runbook(
        "t",
        """
        runbook: t
        connection: main
        inputs:
          stale: {type: integer, default: 60}
        steps:
          - id: age
            sql: SELECT 75 AS minutes
            thresholds:
              minutes: {warning: "{{ inputs.stale }}", critical: 240}
        """,
    )
    assert project.run("t").status is Status.WARNING
    assert project.run("t", {"stale": "90"}).status is Status.OK


@pytest.mark.parametrize(
    "params, message",
    [
        ({"stale": "soon"}, "input 'stale' (integer): expected a whole number, got 'soon'"),
        ({"stael": "5"}, "unknown input 'stael' for t; did you mean 'stale'?"),
        ({}, "missing input 'who' (string) for t: add --param who=..."),
    ],
    ids=["wrong-type", "typo", "missing"],
)
def test_bad_params_are_refused_before_anything_runs(project, params, message):
    project.runbook(
        "t",
        """
        runbook: t
        connection: main
        inputs:
          stale: {type: integer, default: 60}
          who: {type: string}
        steps:
          - sql: CREATE TABLE touched (x)
        """,
    )
    with pytest.raises(InputError) as error:
        project.run("t", params)
    assert message in str(error.value)
    assert project.query("SELECT name FROM sqlite_master WHERE name = 'touched'") == []


def test_injection_attempts_are_bound_not_executed(project):
    project.sql("CREATE TABLE x (id INTEGER, name TEXT)", "INSERT INTO x VALUES (1, 'a')")
    project.runbook(
        "t",
        """
        runbook: t
        connection: main
        inputs:
          id: {type: string}
        steps:
          - id: find
            sql: SELECT COUNT(*) AS n FROM x WHERE id = {{ inputs.id }} OR name = {{ inputs.id }}
        """,
    )
    for hostile in ("1; DROP TABLE x", "' OR '1'='1", "1 OR 1=1"):
        run = project.run("t", {"id": hostile})
        assert run.steps[0].values["value"] == 0, hostile
    assert project.query("SELECT COUNT(*) FROM x") == [(1,)]


def test_in_list_and_identifier(project):
    project.sql("CREATE TABLE x (id INTEGER)", "INSERT INTO x VALUES (1), (2), (3), (4)")
    project.runbook(
        "t",
        """
        runbook: t
        connection: main
        inputs:
          ids: {type: list, default: [1, 3, 9]}
          table: {type: string, default: x}
        steps:
          - id: n
            sql: SELECT COUNT(*) FROM {{ inputs.table | identifier }} WHERE id IN {{ inputs.ids | in_list }}
        """,
    )
    assert project.run("t").steps[0].values["value"] == 2
    run = project.run("t", {"table": "x; DROP TABLE x"})
    assert run.status is Status.UNKNOWN
    assert "not a safe SQL identifier" in run.steps[0].error
    assert project.query("SELECT COUNT(*) FROM x") == [(4,)]


def test_undefined_variable_at_run_time_names_it(project):
    project.runbook(
        "t",
        """
        runbook: t
        connection: main
        steps:
          - id: a
            sql: SELECT 1 AS n
          - id: b
            sql: SELECT {{ steps.a.row.missing }}
        """,
    )
    run = project.run("t")
    assert run.steps[1].status is Status.UNKNOWN
    assert "no key 'missing'" in run.steps[1].error
    assert "t.yaml:6" in run.steps[1].error


def test_transient_failures_are_retried_and_each_attempt_recorded(project, tmp_path):
    counter = tmp_path / "count"
    counter.write_text("0")
    script = tmp_path / "flaky.sh"
    script.write_text(f"""#!/bin/sh
n=$(cat {counter}); n=$((n+1)); echo $n > {counter}
[ $n -ge 3 ] && exit 0
sleep 5
""")
    script.chmod(0o755)
    project.runbook(
        "t",
        f"""
        runbook: t
        steps:
          - id: flaky
            command: ["{script}"]
            timeout: 0.3s
            retry: {{attempts: 4, delay: 1s}}
        """,
    )
    slept = []
    run = project.run("t", sleep=slept.append)
    step = run.steps[0]
    assert step.status is Status.OK
    assert [a.outcome for a in step.attempts] == ["timed_out", "timed_out", "ok"]
    assert slept == [1.0, 2.0]


def test_syntax_errors_are_not_retried(project):
    project.runbook(
        "t",
        """
        runbook: t
        connection: main
        defaults:
          retry: {attempts: 5}
        steps:
          - id: bad
            sql: SELEC 1
        """,
    )
    run = project.run("t")
    assert run.steps[0].status is Status.CRITICAL
    assert len(run.steps[0].attempts) == 1
    assert "syntax error" in run.steps[0].error


def test_on_error_stop_skips_the_rest_but_finally_runs(project):
    project.sql("CREATE TABLE log (what TEXT)")
    project.runbook(
        "t",
        """
        runbook: t
        kind: processing
        connection: main
        steps:
          - id: boom
            sql: SELECT * FROM nowhere
          - id: after
            sql: INSERT INTO log VALUES ('after')
        finally:
          - id: cleanup
            sql: INSERT INTO log VALUES ('finally')
        """,
    )
    run = project.run("t")
    assert [(s.id, s.outcome) for s in run.steps] == [
        ("boom", "failed"),
        ("after", "not_run"),
        ("cleanup", "ok"),
    ]
    assert project.query("SELECT what FROM log") == [("finally",)]
    assert run.status is Status.CRITICAL


def test_health_checks_continue_past_a_failing_step(project):
    project.runbook(
        "t",
        """
        runbook: t
        kind: health-check
        connection: main
        steps:
          - id: boom
            sql: SELECT * FROM nowhere
          - id: fine
            sql: SELECT 1
        """,
    )
    run = project.run("t")
    assert statuses(run) == {"boom": Status.CRITICAL, "fine": Status.OK}


def test_on_error_warning_downgrades(project):
    project.runbook(
        "t",
        """
        runbook: t
        connection: main
        steps:
          - id: boom
            sql: SELECT * FROM nowhere
            on_error: warning
        """,
    )
    assert project.run("t").status is Status.WARNING


def test_when_skips(project):
    project.runbook(
        "t",
        """
        runbook: t
        connection: main
        steps:
          - id: count
            sql: SELECT 0 AS n
          - id: fix
            when: steps.count.value > 0
            sql: SELECT 1
        """,
    )
    run = project.run("t")
    assert run.steps[1].status is Status.SKIPPED
    assert run.status is Status.OK


def test_transaction_is_all_or_nothing(project):
    project.sql("CREATE TABLE a (x INTEGER)", "CREATE TABLE b (x INTEGER NOT NULL)")
    project.runbook(
        "t",
        """
        runbook: t
        kind: rollback
        connection: main
        steps:
          - id: tx
            transaction: true
            steps:
              - id: one
                sql: INSERT INTO a VALUES (1)
              - id: two
                sql: INSERT INTO b VALUES (NULL)
        """,
    )
    run = project.run("t")
    assert run.steps[0].status is Status.CRITICAL
    assert "rolled back" in run.steps[0].error
    assert project.query("SELECT COUNT(*) FROM a") == [(0,)]


def test_for_each_collects_item_failures(project):
    project.sql(
        "CREATE TABLE o (id INTEGER, ok INTEGER)", "INSERT INTO o VALUES (1, 1), (2, 0), (3, 1)"
    )
    project.runbook(
        "t",
        """
        runbook: t
        kind: processing
        connection: main
        steps:
          - id: orders
            sql: SELECT id, ok FROM o ORDER BY id
          - id: each
            for_each: steps.orders.rows
            as: order
            concurrency: 2
            steps:
              - id: check
                sql: SELECT {{ order.ok }} AS ok
                thresholds:
                  ok: {critical: 1, direction: below}
          - id: after
            sql: SELECT 1
        """,
    )
    run = project.run("t")
    each = run.steps[1]
    assert [c.status for c in each.children] == [Status.OK, Status.CRITICAL, Status.OK]
    assert each.values == {"items": 3, "failed": 1, "succeeded": 2}
    assert each.error == "1 of 3 items failed"
    assert run.steps[2].status is Status.OK  # item failures are collected, not fatal


def test_until_polls_with_the_retry_policy(project):
    project.sql("CREATE TABLE c (n INTEGER)", "INSERT INTO c VALUES (0)")
    project.runbook(
        "t",
        """
        runbook: t
        connection: main
        steps:
          - id: poll
            sql: UPDATE c SET n = n + 1 RETURNING n
            until: value >= 3
            retry: {attempts: 5, backoff: fixed, delay: 10s}
        """,
    )
    slept = []
    run = project.run("t", sleep=slept.append)
    assert run.steps[0].status is Status.OK
    assert len(run.steps[0].attempts) == 3 and slept == [10.0, 10.0]


def test_confirm_without_terminal_is_refused_before_anything_runs(project):
    project.sql("CREATE TABLE d (x INTEGER)", "INSERT INTO d VALUES (1)")
    project.runbook(
        "t",
        """
        runbook: t
        kind: rollback
        connection: main
        steps:
          - id: wipe
            confirm: Delete everything?
            sql: DELETE FROM d
        """,
    )
    with pytest.raises(ConfirmationRefused, match="--yes"):
        project.run("t")
    assert project.query("SELECT COUNT(*) FROM d") == [(1,)]
    assert project.run("t", assume_yes=True).status is Status.OK
    assert project.query("SELECT COUNT(*) FROM d") == [(0,)]


def test_rehearse_rolls_back_and_reports_row_counts(project):
    project.sql("CREATE TABLE d (x INTEGER)", "INSERT INTO d VALUES (1), (2)")
    project.runbook(
        "t",
        """
        runbook: t
        kind: rollback
        connection: main
        steps:
          - id: wipe
            sql: DELETE FROM d
        """,
    )
    run = project.run("t", mode="rehearse")
    assert run.steps[0].rendered["rowcount"] == 2
    assert project.query("SELECT COUNT(*) FROM d") == [(2,)]


def test_rehearse_says_what_a_select_returned_and_what_a_change_would_touch(project):
    """A SELECT touches nothing: its rehearsal reads as a normal run's summary would."""
    from runner.reports.render import render_run

    project.sql("CREATE TABLE d (x INTEGER)", "INSERT INTO d VALUES (1), (2), (3), (4)")
    project.runbook(
        "t",
        """
        runbook: t
        kind: rollback
        connection: main
        steps:
          - id: listed
            sql: SELECT x FROM d WHERE x > 1
          - id: counted
            sql: SELECT COUNT(*) AS failed_orders FROM d
          - id: none
            sql: SELECT x FROM d WHERE x > 9
          - id: wipe
            sql: DELETE FROM d WHERE x < 3
        """,
    )
    run = project.run("t", mode="rehearse")
    rendered = {step.id: step.rendered for step in run.steps}
    assert [rendered[s].get("returned") for s in ("listed", "counted", "none", "wipe")] == [
        "3 rows",
        "failed_orders = 4",
        "no rows",
        None,
    ]
    assert "rowcount" not in rendered["listed"] and rendered["wipe"]["rowcount"] == 2
    lines = render_run(run, "text").splitlines()

    def cell(step_id: str) -> str:
        [line] = [line for line in lines if line.split()[:1] == [step_id] and " OK " in line]
        return " ".join(line.split()[2:-1])

    assert [cell(s) for s in ("listed", "counted", "none", "wipe")] == [
        "3 rows",
        "failed_orders = 4",
        "no rows",
        "would touch 2 rows",
    ]
    assert project.query("SELECT COUNT(*) FROM d") == [(4,)]


def test_dry_run_renders_sql_with_bound_values_and_runs_nothing(project):
    project.sql("CREATE TABLE d (x INTEGER)", "INSERT INTO d VALUES (1)")
    project.runbook(
        "t",
        """
        runbook: t
        kind: rollback
        connection: main
        inputs:
          x: {type: integer, default: 1}
        steps:
          - id: wipe
            sql: DELETE FROM d WHERE x = {{ inputs.x }}
        """,
    )
    run = project.run("t", mode="dry-run")
    assert run.steps[0].rendered["sql"] == "DELETE FROM d WHERE x = ?"
    assert run.steps[0].rendered["params"] == [1]
    assert project.query("SELECT COUNT(*) FROM d") == [(1,)]


def test_check_step_runs_reusable_check_with_overridden_threshold(project):
    project.write(
        "checks/row-count.yaml",
        """
        check: row-count
        title: "{{ inputs.table }} has few rows"
        inputs:
          table: {type: string}
        steps:
          - id: count
            sql: SELECT COUNT(*) AS n FROM {{ inputs.table | identifier }}
            thresholds:
              n: {warning: 100}
        """,
    )
    project.sql("CREATE TABLE x (a)", "INSERT INTO x VALUES (1), (2), (3)")
    project.runbook(
        "t",
        """
        runbook: t
        connection: main
        steps:
          - id: rows
            check: row-count
            with: {table: x}
            thresholds:
              n: {warning: 2}
          - id: seen
            command: [echo, "{{ steps.rows.steps.count.severity }} {{ steps.rows.steps.count.row.n }}"]
        """,
    )
    run = project.run("t")
    assert run.steps[0].status is Status.WARNING
    assert run.steps[0].title == "x has few rows"
    assert run.steps[0].children[0].evaluations[0].text == "n = 3 > warning 2"
    # later steps read the check's steps; its values hold no copy of them (its children do)
    assert run.steps[1].values["stdout"] == "WARNING 3\n"
    assert run.steps[0].values == {}


def test_runbook_step_and_on_failure_runbook(project):
    project.sql("CREATE TABLE log (what TEXT)")
    project.runbook(
        "undo",
        """
        runbook: undo
        kind: rollback
        connection: main
        inputs:
          why: {type: string}
        steps:
          - sql: INSERT INTO log VALUES ({{ inputs.why }})
        """,
    )
    project.runbook(
        "t",
        """
        runbook: t
        kind: processing
        connection: main
        steps:
          - id: boom
            sql: SELECT * FROM nowhere
        on_failure:
          runbook: undo
          with: {why: "{{ run.runbook }} failed"}
        """,
    )
    run = project.run("t")
    assert run.status is Status.CRITICAL
    assert project.query("SELECT what FROM log") == [("t failed",)]


def _called_runbook_warns(project, assertion: str = "") -> None:
    """`inner` ends WARNING (a threshold); `t` calls it, with `assertion` as its asserts."""
    project.runbook(
        "inner",
        """
        runbook: inner
        connection: main
        steps:
          - id: fine
            sql: SELECT 1 AS n
          - id: gauge
            sql: SELECT 7 AS n
            thresholds:
              n: {warning: 5}
        """,
    )
    project.runbook(
        "t",
        f"""
        runbook: t
        kind: processing
        connection: main
        steps:
          - id: call
            runbook: inner
            {assertion}
          - id: after
            sql: SELECT 1
        """,
    )


def _children(step):
    return {child.id: child.status for child in step.children}


def test_a_runbook_call_with_asserts_is_judged_by_them(project):
    """As with a command's exit code: asserts judge the call, the status is a value."""
    from runner.history.store import StateStore
    from runner.reports.render import render_run

    _called_runbook_warns(project, "assert: [\"status in ('OK', 'WARNING')\"]")
    run = project.run("t")
    call = run.steps[0]
    assert (run.status, call.status) == (Status.OK, Status.OK)
    assert (call.values["status"], call.values["runbook"]) == ("WARNING", "inner")
    assert _children(call) == {"fine": Status.OK, "gauge": Status.WARNING}
    assert [(e.text, e.status) for e in call.evaluations] == [
        ("status in ('OK', 'WARNING')", Status.OK)
    ]
    # Nagios reads the run's status: the called runbook's warning is not a problem of it.
    assert render_run(run, "nagios").splitlines()[0] == "T OK - all 4 checks OK | n=7;~:5"
    with StateStore(project.library().config.state) as store:
        stored = store.get_run(run.run_id)
    [recorded] = [step for step in stored["steps"] if step["id"] == "call"]
    assert recorded["status"] == "OK"
    assert [(c["id"], c["status"]) for c in recorded["children"]] == [
        ("fine", "OK"),
        ("gauge", "WARNING"),
    ]


def test_a_runbook_call_whose_assert_fails_is_critical(project):
    from runner.reports.render import render_run

    _called_runbook_warns(
        project,
        "assert: [{that: \"status == 'OK'\", message: 'inner ended {{ status }}'}]",
    )
    run = project.run("t")
    call = run.steps[0]
    assert (run.status, call.status) == (Status.CRITICAL, Status.CRITICAL)
    assert [(e.text, e.status) for e in call.evaluations] == [
        ("inner ended WARNING", Status.CRITICAL)
    ]
    assert render_run(run, "nagios").splitlines()[0] == (
        "T CRITICAL - call: inner ended WARNING, call > gauge: n = 7 > warning 5 | n=7;~:5"
    )
    assert _children(call) == {"fine": Status.OK, "gauge": Status.WARNING}
    # A processing runbook stops at a CRITICAL step (on_error: stop): `after` is not run.
    assert run.steps[1].status is Status.SKIPPED


def test_a_runbook_call_without_asserts_takes_the_called_runbook_s_status(project):
    _called_runbook_warns(project)
    run = project.run("t")
    call = run.steps[0]
    assert (run.status, call.status, call.evaluations) == (Status.WARNING, Status.WARNING, [])
    assert (call.values["status"], call.values["runbook"]) == ("WARNING", "inner")
    assert _children(call) == {"fine": Status.OK, "gauge": Status.WARNING}


def test_later_steps_read_a_called_runbook_s_steps(project):
    """As a check's: steps.<call>.steps.<its step>, with ok, severity and its values."""
    _called_runbook_warns(project)
    project.runbook(
        "t",
        """
        runbook: t
        connection: main
        steps:
          - id: call
            runbook: inner
          - id: report
            command:
              - echo
              - "{% for id, s in steps.call.steps.items() if not s.ok %}{{ id }} {{ s.severity }} n={{ s.row.n }}{% endfor %}"
        """,
    )
    run = project.run("t")
    assert run.steps[1].values["stdout"] == "gauge WARNING n=7\n"
    assert run.steps[0].template_view()["steps"]["fine"]["ok"] is True
    assert "steps" not in run.steps[0].values  # a view for the run: not recorded


def test_what_runbook_calls_record_stays_bounded_at_every_level_of_nesting(project):
    """grand -> parent -> child, whose step selects 5,000 rows: each level's recorded values
    hold no copy of the rows (the store keeps 100 of them, once, in the child's own row),
    while later steps still read steps.<call>.steps.<its step> down the levels."""
    import json
    import sqlite3

    rows = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000)"
    project.runbook(
        "child",
        f"""
        runbook: child
        connection: main
        steps:
          - id: rows
            sql: "{rows} SELECT i, 'row number ' || i AS label FROM n"
        """,
    )
    project.runbook(
        "parent",
        """
        runbook: parent
        connection: main
        steps:
          - id: call
            runbook: child
          - id: seen
            command: [echo, "{{ steps.call.steps | list }} {{ steps.call.steps.rows.ok }}"]
        """,
    )
    project.runbook(
        "grand",
        """
        runbook: grand
        connection: main
        steps:
          - id: call
            runbook: parent
            assert: ["steps.call.steps.rows.ok", "steps.call.steps.rows.rowcount == 5000"]
          - id: seen
            command:
              - echo
              - "{{ steps.call.steps.call.steps.rows.ok }} {{ steps.call.steps.call.steps.rows.rows | length }} {{ steps.call.steps.seen.stdout | trim }}"
        """,
    )
    run = project.run("grand")
    assert run.status is Status.OK, [(s.id, s.status, s.error) for s in run.steps]
    assert run.steps[1].values["stdout"] == "True 5000 ['rows'] True\n"
    with sqlite3.connect(project.root / "var" / "runner.db") as db:
        stored = db.execute(
            "SELECT step_id, LENGTH(values_json), values_json FROM step_results"
            " WHERE run_id = ? ORDER BY seq",
            (run.run_id,),
        ).fetchall()
    sizes = [(step, size) for step, size, _ in stored]
    assert [step for step, _ in sizes] == ["call", "call", "rows", "seen", "seen"]
    calls = [size for step, size in sizes if step == "call"]
    assert max(calls) < 100, sizes
    assert json.loads(stored[0][2]) == {"status": "OK", "runbook": "parent"}
    rows_step = json.loads(stored[2][2])
    assert (len(rows_step["rows"]), rows_step["rows_total"]) == (100, 5000)


def test_a_runbook_call_with_asserts_in_a_dry_run_is_not_judged(project):
    _called_runbook_warns(project, "assert: [\"status == 'OK'\"]")
    run = project.run("t", mode="dry-run")
    call = run.steps[0]
    # Nothing ran, so the assert has no status to judge: the call is as one without asserts.
    assert (call.status, call.evaluations) == (Status.OK, [])
    assert _children(call) == {"fine": Status.SKIPPED, "gauge": Status.SKIPPED}


def test_overlapping_run_is_skipped(project):
    from runner.history.locks import RunLock

    project.runbook(
        "t",
        """
        runbook: t
        connection: main
        steps:
          - sql: SELECT 1
        """,
    )
    library = project.library()
    with RunLock(library.config.var_dir / "locks", "t", "skip") as held:
        assert held
        run = project.run("t")
    # Nothing finished yet: a skipped run cannot say how the runbook is.
    assert (run.outcome, run.status, run.exit_code) == ("skipped", Status.UNKNOWN, 3)
    assert run.error.startswith("t is already running (pid ")
    assert run.error.endswith(
        "this run was skipped (concurrency: skip); "
        "no earlier run has finished, so its status is not known"
    )


def test_a_skipped_run_reports_the_last_finished_run_s_status(project):
    """No false recovery: a monitor that saw WARNING must not read OK from a skipped run."""
    from runner.history.locks import RunLock

    project.sql("CREATE TABLE gauge (level INTEGER)", "INSERT INTO gauge VALUES (70)")
    project.runbook(
        "t",
        """
        runbook: t
        connection: main
        steps:
          - id: level
            sql: SELECT level FROM gauge
            thresholds:
              level: {warning: 50, critical: 90}
        """,
    )
    finished = project.run("t")
    assert finished.status is Status.WARNING
    library = project.library()
    with RunLock(library.config.var_dir / "locks", "t", "skip"):
        skipped = project.run("t")
        as_before = project.run("t", skipped_status="ok")
    assert (skipped.outcome, skipped.status, skipped.exit_code) == ("skipped", Status.WARNING, 1)
    assert skipped.error.endswith(
        f"this run was skipped (concurrency: skip); "
        f"the last finished run ({finished.run_id}) ended WARNING"
    )
    assert (as_before.outcome, as_before.status, as_before.exit_code) == (
        "skipped",
        Status.OK,
        0,
    )
    assert as_before.error.endswith("this run was skipped (concurrency: skip)")


def test_missing_database_file_is_critical_with_clear_message(project):
    project.config("""
        connections:
          gone: {sqlite: nowhere/missing.db}
        """)
    project.runbook(
        "t",
        """
        runbook: t
        connection: gone
        defaults: {retry: {attempts: 1}}
        steps:
          - sql: SELECT 1
        """,
    )
    run = project.run("t")
    assert run.status is Status.CRITICAL
    assert "missing.db does not exist" in run.steps[0].error


def test_history_records_run_and_steps(project):
    project.runbook(
        "t",
        """
        runbook: t
        connection: main
        steps:
          - id: one
            sql: SELECT 1 AS n
            thresholds: {n: {warning: 0}}
        """,
    )
    run = project.run("t")
    from runner.history.store import StateStore

    store = StateStore(project.library().config.state)
    rows = store.history("t")
    assert rows[0]["run_id"] == run.run_id and rows[0]["status"] == "WARNING"
    stored = store.get_run(run.run_id)
    assert stored["steps"][0]["id"] == "one"
    assert stored["steps"][0]["evaluations"][0]["text"] == "n = 1 > warning 0"
    store.close()


def test_last_run_check_reads_the_runners_own_history(project):
    import shutil

    from conftest import REPO

    shutil.copy(REPO / "checks" / "last-run.yaml", project.root / "checks" / "last-run.yaml")
    (project.root / "sql" / "runs").mkdir()
    shutil.copy(REPO / "sql" / "runs" / "minutes_since_success.sql", project.root / "sql" / "runs")
    project.runbook("job", "runbook: job\nconnection: main\nsteps:\n  - sql: SELECT 1\n")
    project.runbook(
        "watch",
        """
        runbook: watch
        steps:
          - id: job-ran
            check: last-run
            with: {runbook: job, max_age: 1h}
        """,
    )
    project.run("job")  # creates the state store with no success of `watch`
    never = project.run("watch", record=False)
    project.run("job")
    recent = project.run("watch")
    assert recent.steps[0].status is Status.OK, recent.steps[0].children[0].evaluations
    assert recent.steps[0].title == "job succeeded within 1h"
    project.runbook(
        "watch2",
        """
        runbook: watch2
        steps:
          - check: last-run
            with: {runbook: other}
        """,
    )
    missing = project.run("watch2")
    assert missing.status is Status.CRITICAL
    texts = [e.text for e in missing.steps[0].children[0].evaluations]
    assert "no successful run of this runbook is recorded" in texts
    assert "runbook history other" in missing.steps[0].children[0].hint
    assert never.steps[0].status is Status.OK


def test_wait_longer_than_the_default_timeout_is_not_cut_short(project):
    project.runbook(
        "t",
        """
        runbook: t
        defaults: {timeout: 5s}
        steps:
          - id: pause
            wait: 2m
        """,
    )
    slept = []
    run = project.run("t", sleep=slept.append)
    assert run.steps[0].status is Status.OK and sum(slept) == 120


@pytest.fixture
def slow_server():
    import threading
    import time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            if self.path == "/slow":
                time.sleep(1.5)
            body = b'{"ok": true}'
            try:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting, as the test intends

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_http_endpoint_that_times_out_is_critical_after_retries(project, slow_server):
    project.runbook(
        "t",
        f"""
        runbook: t
        steps:
          - id: api
            http: {{url: "{slow_server}/slow"}}
            timeout: 0.2s
            retry: {{attempts: 2, delay: 1s}}
            assert:
              - status == 200
          - id: fast
            http: {{url: "{slow_server}/fast"}}
            assert:
              - status == 200
              - json.ok
        """,
    )
    run = project.run("t")
    api = run.steps[0]
    assert api.status is Status.CRITICAL and api.outcome == "timed_out"
    assert [a.outcome for a in api.attempts] == ["timed_out", "timed_out"]
    assert "(after 2 attempts)" in api.error
    assert run.steps[1].status is Status.OK


def test_secrets_never_reach_results_or_history(project, monkeypatch):
    monkeypatch.setenv("SHOP_API_TOKEN", "tok-8c1f2a9b77")
    project.runbook(
        "t",
        """
        runbook: t
        connection: main
        inputs:
          password: {type: string, secret: true}
        steps:
          - id: leak
            sql: SELECT {{ env.SHOP_API_TOKEN }} AS token, {{ inputs.password }} AS pw
          - id: fail
            sql: SELECT * FROM {{ 'x' | identifier }} WHERE a = {{ inputs.password }}
        """,
    )
    run = project.run("t", {"password": "hunter2-very-secret"})
    import json

    text = json.dumps(run.as_dict(), default=str)
    assert "tok-8c1f2a9b77" not in text and "hunter2-very-secret" not in text
    assert run.steps[0].values["row"] == {"token": "***", "pw": "***"}
    assert run.inputs == {"password": "***"}
    raw = b"".join(p.read_bytes() for p in (project.root / "var").glob("runner.db*"))
    assert b"tok-8c1f2a9b77" not in raw and b"hunter2-very-secret" not in raw


def test_connection_override_and_runner_defaults(project):
    import sqlite3

    other = project.root / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE marker (x)").connection.close()
    project.config("""
        connections:
          main: {sqlite: data.db}
          replica: {sqlite: other.db}
        defaults:
          timeout: 7s
          retry: {attempts: 4, delay: 3s}
        """)
    project.runbook(
        "t",
        """
        runbook: t
        connection: main
        steps:
          - id: probe
            sql: SELECT COUNT(*) FROM sqlite_master WHERE name = 'marker'
        """,
    )
    assert project.run("t").steps[0].values["value"] == 0
    assert project.run("t", connections={"main": "replica"}).steps[0].values["value"] == 1
    step = project.library().runbook("t").steps[0]
    assert step.timeout == 7 and step.retry.attempts == 4 and step.retry.delay == 3


def test_runbook_defaults_override_runner_defaults(project):
    project.config("""
        connections:
          main: {sqlite: data.db}
        defaults:
          retry: {attempts: 4, delay: 3s}
        """)
    project.runbook(
        "t",
        """
        runbook: t
        connection: main
        defaults:
          retry: {attempts: 2}
        steps:
          - id: a
            sql: SELECT 1
          - id: b
            sql: SELECT 1
            retry: {attempts: 1}
        """,
    )
    a, b = project.library().runbook("t").steps
    assert (a.retry.attempts, a.retry.delay) == (2, 3) and b.retry.attempts == 1


def test_missing_odbc_says_what_to_install(project, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "pyodbc", None)  # import pyodbc now raises ImportError
    project.config("""
        connections:
          prod: {odbc: "DRIVER={PostgreSQL Unicode};SERVER=127.0.0.1;DATABASE=test"}
        """)
    project.runbook("t", "runbook: t\nconnection: prod\nsteps:\n  - sql: SELECT 1\n")
    run = project.run("t")
    assert run.status is Status.UNKNOWN
    assert "apt-get install unixodbc" in run.steps[0].error


def test_confirm_on_a_terminal_asks_and_a_no_stops_the_run(project):
    project.sql("CREATE TABLE d (x INTEGER)", "INSERT INTO d VALUES (1)")
    project.runbook(
        "t",
        """
        runbook: t
        kind: rollback
        connection: main
        steps:
          - id: wipe
            confirm: "Delete {{ 1 + 1 }} rows?"
            sql: DELETE FROM d
          - id: after
            sql: SELECT 1
        """,
    )
    asked = []
    run = project.run("t", interactive=True, ask=lambda q: asked.append(q) or "n")
    assert asked == ["Delete 2 rows? [y/N] "]
    assert [s.outcome for s in run.steps] == ["refused", "not_run"]
    assert project.query("SELECT COUNT(*) FROM d") == [(1,)]
    run = project.run("t", interactive=True, ask=lambda q: "yes")
    assert run.status is Status.OK and project.query("SELECT COUNT(*) FROM d") == [(0,)]


def test_sqlite_statement_over_its_timeout_is_cancelled(project):
    project.runbook(
        "t",
        """
        runbook: t
        connection: main
        steps:
          - id: forever
            sql: WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c) SELECT COUNT(*) FROM c
            timeout: 0.3s
            retry: {attempts: 2}
          - id: next
            sql: SELECT 1
        """,
    )
    run = project.run("t")
    forever = run.steps[0]
    assert forever.status is Status.CRITICAL and forever.outcome == "timed_out"
    assert [a.outcome for a in forever.attempts] == ["timed_out", "timed_out"]
    assert "cancelled after 0.3s" in forever.error
    assert run.steps[1].status is Status.OK


def test_on_item_error_stop_stops_items_and_run(project):
    project.sql("CREATE TABLE o (id INTEGER, ok INTEGER)", "INSERT INTO o VALUES (1, 0), (2, 1)")
    project.runbook(
        "t",
        """
        runbook: t
        kind: processing
        connection: main
        steps:
          - id: each
            for_each: [1, 2]
            on_item_error: stop
            steps:
              - sql: SELECT ok FROM o WHERE id = {{ item }}
                thresholds: {ok: {critical: 1, direction: below}}
          - id: after
            sql: SELECT 1
        """,
    )
    run = project.run("t")
    assert len(run.steps[0].children) == 1
    assert run.steps[0].error == "stopped at item 1 (on_item_error: stop)"
    assert run.steps[1].outcome == "not_run"


def test_a_template_error_stops_a_processing_runbook(project):
    project.sql("CREATE TABLE log (x)")
    project.runbook(
        "t",
        """
        runbook: t
        kind: processing
        connection: main
        steps:
          - id: a
            sql: SELECT 1 AS n
          - id: b
            sql: SELECT {{ steps.a.row.nope }}
          - id: c
            sql: INSERT INTO log VALUES (1)
        """,
    )
    run = project.run("t")
    assert [s.outcome for s in run.steps] == ["ok", "failed", "not_run"]
    assert run.status is Status.UNKNOWN and project.query("SELECT COUNT(*) FROM log") == [(0,)]


def test_commands_run_in_the_project_folder_whatever_the_current_one(
    project, tmp_path, monkeypatch
):
    (project.root / "scripts").mkdir()
    project.runbook(
        "t",
        """
        runbook: t
        steps:
          - id: here
            command: [pwd]
          - id: sub
            command: [pwd]
            cwd: scripts
        """,
    )
    library = project.library()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    from runner.service.runs import RunRequest, RunService

    run = RunService(library.config, sleep=lambda s: None, interactive=False).run(RunRequest("t"))
    assert run.steps[0].values["stdout"].strip() == str(project.root.resolve())
    assert run.steps[1].values["stdout"].strip() == str(project.root.resolve() / "scripts")


class _LockThatIsLost:
    """A run lock whose holder is lost before step `lost_before`: taken again (a note)
    or taken over by another host (LockLost)."""

    def __init__(self, lost_before: str, taken_over: bool) -> None:
        self.lost_before = lost_before
        self.taken_over = taken_over
        self.asked: list[str] = []
        self.released = False

    def acquire(self) -> bool:
        return True

    def release(self) -> None:
        self.released = True

    def holder(self) -> str | None:
        return None

    def verify(self, before: str = "") -> str | None:
        from runner.base.errors import LockLost

        self.asked.append(before)
        if before != self.lost_before:
            return None
        if self.taken_over:
            raise LockLost(
                f"t lost its cross-host lock before step {before!r}, and pid 7 on b holds it now"
            )
        return f"t lost its cross-host lock before step {before!r} and took it again"


_THREE_STEPS = """
    runbook: t
    connection: main
    steps:
      - {id: first, sql: SELECT 1 AS n}
      - {id: second, sql: SELECT 2 AS n}
      - {id: third, sql: SELECT 3 AS n}
    finally:
      - {id: cleanup, sql: SELECT 4 AS n}
    """


@pytest.fixture
def lost_lock(monkeypatch):
    """The run service gets the lock `lost_lock(...)` made; it is asked before every step."""
    import runner.history.locks
    import runner.service.runs

    monkeypatch.setattr(runner.history.locks, "VERIFY_EVERY", 0.0)
    made = []

    def make(lost_before: str, taken_over: bool):
        lock = _LockThatIsLost(lost_before, taken_over)
        monkeypatch.setattr(runner.service.runs, "run_lock", lambda *args, **kwargs: lock)
        made.append(lock)
        return lock

    return make


def test_a_run_whose_lock_another_host_took_stops_before_its_next_step(project, lost_lock):
    project.runbook("t", _THREE_STEPS)
    lock = lost_lock("second", taken_over=True)

    run = project.run("t")

    assert [step.id for step in run.steps] == ["first"]  # neither the rest nor finally
    assert run.outcome == "aborted" and run.status is Status.UNKNOWN and run.exit_code == 3
    assert (
        run.error == "t lost its cross-host lock before step 'second', and pid 7 on b holds it now"
    )
    assert lock.asked == ["first", "second"] and lock.released
    from runner.history.store import StateStore

    store = StateStore(project.library().config.state)
    recorded = store.get_run(run.run_id)
    store.close()
    assert recorded["outcome"] == "aborted" and recorded["error"] == run.error


def test_a_run_whose_lock_was_taken_again_goes_on_and_says_so(project, lost_lock):
    project.runbook("t", _THREE_STEPS)
    lock = lost_lock("third", taken_over=False)

    run = project.run("t")

    assert [step.id for step in run.steps] == ["first", "second", "third", "cleanup"]
    assert run.outcome == "completed" and run.status is Status.OK
    assert run.error == "t lost its cross-host lock before step 'third' and took it again"
    assert lock.asked == ["first", "second", "third", "cleanup"]


def test_the_lock_is_asked_at_most_every_second():
    from runner.history import locks

    lock = _LockThatIsLost("never", taken_over=False)
    clock = [100.0]
    verify = locks.LockVerifier(lock, clock=lambda: clock[0])
    for step, now in [("a", 100.5), ("b", 101.0), ("c", 101.5), ("d", 102.2), ("e", 102.3)]:
        clock[0] = now
        verify(step)
    assert lock.asked == ["b", "d"]


def test_conditions_and_lists_written_in_braces_are_accepted(project, capsys):
    """People write `when: "{{ ... }}"` as they write templates; it means the same."""
    from runner.cli.main import main

    project.runbook(
        "t",
        """
        runbook: t
        connection: main
        inputs:
          n: {type: integer, default: 2}
        steps:
          - id: a
            when: "{{ inputs.n > 1 }}"
            sql: SELECT 1 AS v
            assert:
              - "{{ v == 1 }}"
              - {that: "{{ v < 5 }}", severity: warning}
          - id: b
            for_each: "{{ [10, 20] }}"
            sql: SELECT {{ item }} AS v
            until: "{{ v >= 10 }}"
          - id: c
            when: "{{ inputs.n > 5 }}"
            sql: SELECT 1
        """,
    )
    assert main(["validate", str(project.root / "runbooks")]) == 0
    capsys.readouterr()
    run = project.run("t")
    a, b, c = run.steps
    assert (a.status, [e.status for e in a.evaluations]) == (Status.OK, [Status.OK, Status.OK])
    assert [child.item for child in b.children] == [10, 20]
    assert c.status is Status.SKIPPED


def test_a_hint_names_its_own_steps_values_and_validates(project) -> None:
    project.sql(
        "CREATE TABLE orders (id INTEGER, error TEXT)",
        "INSERT INTO orders VALUES (42, 'Customer not found'), (43, 'Invalid totals')",
    )
    project.runbook(
        "hinted",
        """
        runbook: hinted
        connection: main
        steps:
          - id: failed
            sql: SELECT id AS staging_id, error FROM orders ORDER BY id
            assert: [rowcount == 0]
            hint: |
              {{ rowcount }} failed; first {{ row.error }}.
              {%- for order in rows %}
              runbook run order-retry --param staging_id={{ order.staging_id }}
              {%- endfor %}
              ({{ result.rowcount }})
        """,
    )
    assert project.library().problems(project.root / "runbooks" / "hinted.yaml") == []
    result = project.run("hinted")
    assert result.steps[0].hint == (
        "2 failed; first Customer not found.\n"
        "runbook run order-retry --param staging_id=42\n"
        "runbook run order-retry --param staging_id=43\n"
        "(2)\n"
    )


def test_an_assert_of_severity_unknown_says_the_check_cannot_be_made_here(project, capsys) -> None:
    from runner.cli.main import main

    project.runbook(
        "needs_pg",
        """
        runbook: needs_pg
        kind: troubleshooting
        connection: main
        steps:
          - id: engine
            sql: SELECT 'SQLite' AS engine, 0 AS is_postgresql
            assert:
              - that: row.is_postgresql
                severity: unknown
                message: "pg_stat_activity needs PostgreSQL, not {{ row.engine }}"
          - id: stuck
            sql: SELECT 1 AS n
        """,
    )
    assert main(["validate", str(project.root / "runbooks")]) == 0
    capsys.readouterr()
    run = project.run("needs_pg")
    engine = run.steps[0]
    assert (run.status, run.exit_code, engine.status) == (Status.UNKNOWN, 3, Status.UNKNOWN)
    assert [(e.status, e.text) for e in engine.evaluations] == [
        (Status.UNKNOWN, "pg_stat_activity needs PostgreSQL, not SQLite")
    ]
    assert [(s.outcome, s.status) for s in run.steps[1:]] == [("ok", Status.OK)]  # goes on
    path = project.root / "runbooks" / "needs_pg.yaml"
    path.write_text(path.read_text().replace("kind: troubleshooting", "kind: maintenance"))
    assert [s.outcome for s in project.run("needs_pg").steps[1:]] == ["not_run"]  # stops
    path.write_text(path.read_text().replace("0 AS is_postgresql", "1 AS is_postgresql"))
    assert project.run("needs_pg").status is Status.OK


def test_an_assert_severity_is_one_of_three(project, capsys) -> None:
    from runner.cli.main import main

    project.runbook(
        "t",
        """
        runbook: t
        connection: main
        steps:
          - sql: SELECT 1 AS n
            assert: [{that: n == 1, severity: ok}]
        """,
    )
    assert main(["validate", str(project.root / "runbooks")]) == 1
    out = capsys.readouterr().out
    assert "'ok' is not one of: warning, critical, unknown" in out


def test_run_root_is_runner_yaml_s_folder_from_any_working_folder(
    project, tmp_path, monkeypatch
) -> None:
    project.runbook(
        "where",
        """
        runbook: where
        connection: main
        vars:
          copy_path: "{{ run.root ~ '/var/copy.db' }}"
        steps:
          - id: root
            sql: SELECT {{ run.root }} AS root, {{ vars.copy_path }} AS copy
        """,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    step = project.run("where").steps[0]
    assert step.error is None, step.error
    row = step.values["row"]
    root = project.root.resolve()
    assert row == {"root": str(root), "copy": f"{root}/var/copy.db"}
