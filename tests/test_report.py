"""Reports: the text people read, the JSON programs parse, the lines Nagios and GitHub parse."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from runner.base.errors import Problem
from runner.base.status import Status
from runner.language.results import Attempt, Evaluation, RunResult, StepResult
from runner.reports.render import (
    FORMAT_VERSION,
    render_history,
    render_problems,
    render_run,
    render_runbook_detail,
    render_runbook_list,
)

STARTED = datetime(2026, 11, 24, 9, 15, 0, tzinfo=UTC)
RUN_ID = "20261124T091500Z-ab12cd"
ANSI = re.compile(r"\x1b\[")

# One performance datum per the Nagios plugin guidelines:
# 'label'=value[UOM];[warn];[crit];[min];[max]
_NUMBER = r"-?\d+(?:\.\d+)?"
_RANGE = rf"@?(?:~|{_NUMBER})?:?(?:{_NUMBER})?"
PERFDATUM = re.compile(
    rf"^(?:'[^'=|]+'|[^'=|\s]+)={_NUMBER}[a-zA-Z%]*(?:;{_RANGE}(?:;{_RANGE}(?:;{_NUMBER}?(?:;{_NUMBER}?)?)?)?)?$"
)


def threshold(name, status, text, value, warning=None, critical=None, direction="above"):
    return Evaluation(
        name=name,
        status=status,
        text=text,
        value=value,
        warning=warning,
        critical=critical,
        direction=direction,
    )


def make_run(steps, *, status=Status.OK, seconds=0.42, **changes) -> RunResult:
    run = RunResult(
        run_id=RUN_ID,
        runbook="order-health",
        title="Order pipeline - morning health check",
        kind="health-check",
        status=status,
        started=STARTED,
        ended=STARTED + timedelta(seconds=seconds),
        user="ops",
        host="web1",
        steps=steps,
    )
    for key, value in changes.items():
        setattr(run, key, value)
    return run


def pending_step() -> StepResult:
    return StepResult(
        id="pending",
        title="Pending orders",
        action="sql",
        status=Status.WARNING,
        duration=0.12,
        values={
            "rows": [{"pending_count": 37, "oldest_minutes": 95}],
            "columns": ["pending_count", "oldest_minutes"],
        },
        evaluations=[
            threshold(
                "pending_count", Status.WARNING, "pending_count = 37 > warning 10", 37, 10, 50
            ),
            threshold(
                "oldest_minutes", Status.OK, "oldest_minutes = 55 <= warning 60", 55, 60, 240
            ),
        ],
        hint="If orders are stuck, check that order-processing ran in the last hour.",
        origin="runbooks/orders/order-health.yaml:14",
    )


def failed_step() -> StepResult:
    return StepResult(
        id="failed",
        title="Failed orders",
        action="sql",
        status=Status.CRITICAL,
        duration=0.05,
        evaluations=[threshold("failed", Status.CRITICAL, "failed = 4 > critical 0", 4, None, 0)],
        hint="Run fix-failed-order for each staging id.\nIf a whole batch is wrong, run rollback.",
    )


def timed_out_api() -> StepResult:
    attempts = [
        Attempt(number, STARTED, 5.0, "timed_out", "no answer within 5s") for number in (1, 2, 3)
    ]
    return StepResult(
        id="api",
        title="Storefront API",
        action="http",
        status=Status.CRITICAL,
        outcome="timed_out",
        duration=15.2,
        attempts=attempts,
        error="no answer from http://127.0.0.1:8080/health within 5s",
        hint="Check the storefront: is WooCommerce up?",
    )


def ok_steps() -> list[StepResult]:
    return [
        StepResult(
            id="count",
            title="Staged rows",
            action="sql",
            duration=0.01,
            values={"rows": [{"staged": 3}], "columns": ["staged"], "value": 3},
        ),
        StepResult(
            id="recent",
            title="Recent orders",
            action="sql",
            duration=0.02,
            values={"rows": [{"id": n} for n in range(12)], "columns": ["id"]},
        ),
        StepResult(
            id="shop",
            title="Shop health",
            action="http",
            duration=0.05,
            values={"status": 200, "elapsed_ms": 45.2, "json": {}, "text": "", "headers": {}},
        ),
        StepResult(
            id="backup",
            title="Backup tool",
            action="command",
            duration=1.5,
            values={"exit_code": 0, "stdout": "", "stderr": ""},
        ),
    ]


def for_each_step() -> StepResult:
    """As the engine builds a for_each: one child per item, holding the nested steps."""

    def item(staging_id: int, restore: StepResult) -> StepResult:
        child = StepResult(
            "fix", f"staging_id={staging_id}", "item", item={"staging_id": staging_id, "qty": 2}
        )
        child.children, child.status, child.duration = [restore], restore.status, restore.duration
        child.outcome = "failed" if restore.bad else "ok"
        return child

    restored = StepResult(
        "restore", "Restore QTY_ON_SO", "sql", values={"rowcount": 1}, duration=0.1
    )
    deadlocked = StepResult(
        "restore",
        "Restore QTY_ON_SO",
        "sql",
        status=Status.WARNING,
        outcome="failed",
        error="deadlock victim on [dbo].[PS_DOC_HDR]",
        hint="Run it again when the nightly import is done.",
        duration=0.2,
    )
    return StepResult(
        id="fix",
        title="Retry failed orders",
        action="sql",
        status=Status.WARNING,
        duration=0.3,
        values={"items": 2, "failed": 1, "succeeded": 1},
        error="1 of 2 items failed",
        hint="Run it again when the nightly import is done.",  # the engine lifts a child's hint
        children=[item(42, restored), item(43, deadlocked)],
    )


@pytest.fixture
def critical_run() -> RunResult:
    steps = [pending_step(), failed_step(), timed_out_api(), *ok_steps()]
    return make_run(steps, status=Status.CRITICAL, seconds=16.42)


def lines_of(text: str) -> list[str]:
    return text.splitlines()


def row(text: str, *cells: str) -> bool:
    """True when one line holds the cells in order, separated only by blanks."""
    pattern = r"^\s*" + r"\s+".join(re.escape(cell) for cell in cells) + r"\s*$"
    return any(re.match(pattern, line) for line in lines_of(text))


# -- text ---------------------------------------------------------------------------------


def test_text_table_shows_evaluations_values_and_times(critical_run):
    text = render_run(critical_run, "text")
    assert lines_of(text)[0] == (
        "order-health: Order pipeline - morning health check  [manual run]"
    )
    assert row(text, "Step", "Status", "Result", "Time")
    assert row(text, "pending", "WARNING", "pending_count = 37 > warning 10", "0.12s")
    assert row(text, "oldest_minutes = 55 <= warning 60")
    assert row(text, "failed", "CRITICAL", "failed = 4 > critical 0", "0.05s")
    assert row(text, "count", "OK", "staged = 3", "0.01s")
    assert row(text, "recent", "OK", "12 rows", "0.02s")
    assert row(text, "shop", "OK", "HTTP 200 in 45 ms", "0.05s")
    assert row(text, "backup", "OK", "exit 0", "1.50s")


def test_text_notes_say_what_went_wrong_and_give_hints(critical_run):
    text = render_run(critical_run, "text")
    notes = text[text.index("pending (Pending orders): WARNING") :]
    assert lines_of(notes)[:3] == [
        "pending (Pending orders): WARNING",
        "  hint: If orders are stuck, check that order-processing ran in the last hour.",
        "  defined at runbooks/orders/order-health.yaml:14",
    ]
    assert "failed (Failed orders): CRITICAL\n  hint: Run fix-failed-order" in text
    assert (
        "  hint: Run fix-failed-order for each staging id.\n"
        "        If a whole batch is wrong, run rollback." in text
    )
    assert (
        "api (Storefront API): CRITICAL\n"
        "  timed out after 3 attempts: no answer from http://127.0.0.1:8080/health within 5s\n"
        "  hint: Check the storefront: is WooCommerce up?" in text
    )


def test_text_retried_step_notes_its_attempts(critical_run):
    text = render_run(critical_run, "text")
    assert row(text, "api", "CRITICAL", "timed out after 3 attempts: no answer from", "15.20s")
    assert row(text, "http://127.0.0.1:8080/health within 5s", "3 attempts")


def test_text_last_line_counts_statuses(critical_run):
    text = render_run(critical_run, "text")
    assert lines_of(text)[-1] == (
        f"CRITICAL - 2 critical, 1 warning, 4 ok in 16.42s (run {RUN_ID})"
    )


def test_text_for_each_items_are_indented_and_labelled():
    run = make_run([for_each_step()], status=Status.WARNING)
    text = render_run(run, "text")
    assert row(text, "fix", "WARNING", "1 of 2 items failed", "0.30s")
    assert any(
        re.match(r"^  staging_id=42\s+OK\s+1 step: 1 ok\s+0.10s$", ln) for ln in lines_of(text)
    )
    assert any(
        re.match(r"^    restore\s+OK\s+1 row affected\s+0.10s$", ln) for ln in lines_of(text)
    )
    assert any(
        re.match(r"^  staging_id=43\s+WARNING\s+1 step: 1 warning", ln) for ln in lines_of(text)
    )
    assert any(
        re.match(r"^    restore\s+WARNING\s+failed: deadlock victim on \[dbo\]\.\[PS_DOC_HDR\]", ln)
        for ln in lines_of(text)
    )
    # Under the table the failure is told once, by the step that failed, named by its path;
    # the hint the group borrowed from it is not repeated.
    notes = text[text.index("\n\n") + 2 :]
    assert lines_of(notes) == [
        "fix (Retry failed orders): WARNING",
        "  1 of 2 items failed",
        "  hint: Run it again when the nightly import is done.",
        "fix > staging_id=43 > restore (Restore QTY_ON_SO): WARNING",
        "  failed: deadlock victim on [dbo].[PS_DOC_HDR]",
        "",
        f"WARNING - 1 warning in 0.42s (run {RUN_ID})",
    ]


def test_text_without_color_has_no_ansi_even_when_the_shell_forces_color(critical_run, monkeypatch):
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    assert not ANSI.search(render_run(critical_run, "text", color=False))


def test_text_with_color_colours_statuses(critical_run):
    text = render_run(critical_run, "text", color=True)
    assert ANSI.search(text)
    assert "\x1b[1;31mCRITICAL" in text  # bold red


def test_text_fits_the_width_without_breaking_cells(critical_run):
    text = render_run(critical_run, "text", width=100)
    table = text[: text.index("\n\n")]  # the header and the table, up to the notes
    assert max(len(line) for line in lines_of(table)) <= 100
    # Each status sits whole on its step's line: no cell is split mid-word.
    for step_id, status in (("pending", "WARNING"), ("failed", "CRITICAL"), ("api", "CRITICAL")):
        assert any(re.match(rf"^{step_id}\s+{status}\s+\S", line) for line in lines_of(text))


def test_text_prints_runbook_text_literally_not_as_markup():
    step = StepResult(
        id="locks",
        title="Locks",
        action="sql",
        status=Status.CRITICAL,
        outcome="failed",
        error="Invalid object name '[bold]orders[/bold]'",
    )
    text = render_run(make_run([step], status=Status.CRITICAL), "text")
    assert "failed: Invalid object name '[bold]orders[/bold]'" in text


def test_text_dry_run_is_loud_and_shows_sql_with_bound_values():
    # As the engine leaves them after --dry-run: not run, with what would have been sent.
    def not_run(step_id: str, action: str, rendered: dict) -> StepResult:
        return StepResult(
            step_id, "", action, status=Status.SKIPPED, outcome="not_run", rendered=rendered
        )

    steps = [
        not_run(
            "restore-qty",
            "sql",
            {
                "connection": "counterpoint",
                "sql": "UPDATE IM_INV\nSET QTY_ON_SO = QTY_ON_SO - ?\nWHERE ITEM_NO IN (?, ?)",
                "params": [3, "A-1", None],
                "file": "sql/orders/restore_qty.sql",
            },
        ),
        not_run(
            "cancel",
            "http",
            {
                "method": "POST",
                "url": "http://127.0.0.1:8080/orders/42/cancel",
                "headers": {"Authorization": "****"},
                "json": {"reason": "rollback"},
                "timeout": "5s",
            },
        ),
        not_run("export", "command", {"argv": ["cp-export", "--batch", "May 1"]}),
    ]
    run = make_run(steps, mode="dry-run", runbook="fix-failed-order", title="Undo one order")
    text = render_run(run, "text")
    assert lines_of(text)[0] == (
        "fix-failed-order: Undo one order  [DRY RUN - nothing was executed]"
    )
    assert row(text, "restore-qty", "SKIPPED", "would run SQL on counterpoint")
    assert row(text, "cancel", "SKIPPED", "would send POST http://127.0.0.1:8080/orders/42/cancel")
    assert row(text, "export", "SKIPPED", "would run cp-export --batch May 1")
    rendered = text[text.index("Would run:") :]
    assert lines_of(rendered)[:17] == [
        "Would run:",
        "restore-qty",
        "  SQL on connection counterpoint from sql/orders/restore_qty.sql:",
        "  UPDATE IM_INV",
        "  SET QTY_ON_SO = QTY_ON_SO - ?",
        "  WHERE ITEM_NO IN (?, ?)",
        '  params: [3, "A-1", null]',
        "cancel",
        "  POST http://127.0.0.1:8080/orders/42/cancel",
        "  Authorization: ****",
        "  {",
        '    "reason": "rollback"',
        "  }",
        "  timeout: 5s",
        "export",
        "  $ cp-export --batch 'May 1'",
        "",
    ]
    assert lines_of(text)[-1] == (
        f"OK - nothing executed: 3 steps rendered in 0.42s (dry-run, run {RUN_ID})"
    )


def test_text_rehearsal_reports_rows_touched():
    step = StepResult(
        id="delete-docs",
        title="Delete documents",
        action="sql",
        duration=0.03,
        rendered={"sql": "DELETE FROM PS_DOC_HDR WHERE DOC_ID = ?", "params": [7], "rowcount": 5},
    )
    text = render_run(make_run([step], mode="rehearse"), "text")
    assert lines_of(text)[0] == (
        "order-health: Order pipeline - morning health check  "
        "[REHEARSAL - changes were rolled back, only GET requests were sent]"
    )
    assert row(text, "delete-docs", "OK", "would touch 5 rows", "0.03s")
    assert "Rehearsed (rolled back):\ndelete-docs\n" in text
    assert "  rows touched: 5" in text


@pytest.mark.parametrize(
    ("outcome", "error", "expected"),
    [
        (
            "skipped",
            None,
            "OK - skipped: another run of order-health was still in progress, "
            f"so this one did not start (run {RUN_ID})",
        ),
        (
            "aborted",
            "interrupted by SIGTERM",
            f"CRITICAL - aborted: interrupted by SIGTERM; 1 warning in 0.42s (run {RUN_ID})",
        ),
        (
            "invalid",
            "runbooks/x.yaml:3:5: error: steps[0]: unknown key 'sqll'\nruns/x.yaml:9: error: ...",
            "UNKNOWN - invalid: runbooks/x.yaml:3:5: error: steps[0]: unknown key 'sqll' "
            f"(run {RUN_ID})",
        ),
    ],
    ids=["skipped-overlap", "aborted", "invalid"],
)
def test_text_last_line_names_runs_that_did_not_complete(outcome, error, expected):
    status = {"skipped": Status.OK, "aborted": Status.CRITICAL, "invalid": Status.UNKNOWN}[outcome]
    steps = [pending_step()] if outcome == "aborted" else []
    run = make_run(steps, status=status, outcome=outcome, error=error)
    text = render_run(run, "text")
    assert lines_of(text)[-1] == expected
    if outcome == "invalid":
        # The whole multi-line error is shown above the summary, not just its first line.
        assert "error:\n  runbooks/x.yaml:3:5" in text and "  runs/x.yaml:9: error: ..." in text


# -- json ---------------------------------------------------------------------------------


def test_json_is_the_documented_shape(critical_run):
    critical_run.steps.append(for_each_step())
    data = json.loads(render_run(critical_run, "json"))
    assert data["format_version"] == FORMAT_VERSION == 1
    assert (data["runbook"], data["status"], data["exit_code"]) == ("order-health", "CRITICAL", 2)
    assert data["started"] == "2026-11-24T09:15:00.000Z"  # RFC 3339, milliseconds, Z
    assert data["duration"] == pytest.approx(16.42)
    pending = data["steps"][0]
    assert pending["evaluations"][0] == {
        "name": "pending_count",
        "status": "WARNING",
        "text": "pending_count = 37 > warning 10",
        "value": 37,
        "warning": 10,
        "critical": 50,
        "direction": "above",
        "kind": "threshold",
    }
    api = data["steps"][2]
    assert [a["outcome"] for a in api["attempts"]] == ["timed_out"] * 3
    assert api["attempts"][0]["started"] == "2026-11-24T09:15:00.000Z"
    items = data["steps"][-1]["children"]
    assert [child["item"] for child in items] == [
        {"staging_id": 42, "qty": 2},
        {"staging_id": 43, "qty": 2},
    ]
    assert items[1]["children"][0]["error"] == "deadlock victim on [dbo].[PS_DOC_HDR]"


def test_json_turns_database_values_into_strings():
    step = StepResult(id="sum", title="", action="sql", values={"value": Decimal("12.50")})
    data = json.loads(render_run(make_run([step]), "json"))
    assert data["steps"][0]["values"] == {"value": "12.50"}


# -- nagios -------------------------------------------------------------------------------


def nagios_parts(output: str) -> tuple[str, list[str]]:
    """The first line's text and its performance data."""
    summary, _, perfdata = output.splitlines()[0].partition(" | ")
    return summary, perfdata.split() if perfdata else []


def test_nagios_line_lists_bad_checks_first_with_perfdata(critical_run):
    output = render_run(critical_run, "nagios")
    assert output.splitlines() == [
        "ORDER-HEALTH CRITICAL - pending_count = 37 > warning 10, failed = 4 > critical 0, "
        "api: timed out after 3 attempts: no answer from http://127.0.0.1:8080/health within 5s"
        " | pending_count=37;~:10;~:50 oldest_minutes=55;~:60;~:240 failed=4;;~:0",
        "CRITICAL failed: Run fix-failed-order for each staging id.",
        "CRITICAL api: Check the storefront: is WooCommerce up?",
        "WARNING pending: If orders are stuck, check that order-processing ran in the last hour.",
    ]
    _, perfdata = nagios_parts(output)
    assert all(PERFDATUM.match(datum) for datum in perfdata), perfdata


def test_nagios_all_ok_counts_checks():
    run = make_run(ok_steps())
    assert render_run(run, "nagios") == "ORDER-HEALTH OK - all 4 checks OK"


def test_nagios_perfdata_labels_ranges_and_numbers():
    evaluations = [
        threshold(
            "free disk %", Status.OK, "free disk % = 40 >= warning 20", 40.5, 20, 10, "below"
        ),
        threshold("it's", Status.OK, "it's = 1", Decimal("0.000001"), "5", None),
        threshold("a=b", Status.OK, "a=b = 2", 2, None, None),
        threshold("label", Status.OK, "not a number", "n/a", 1, 2),
        Evaluation("elapsed_ms", Status.OK, "elapsed_ms < 800", 120, kind="assert"),
    ]
    step = StepResult(id="disk", title="", action="sql", evaluations=evaluations)
    line = render_run(make_run([step]), "nagios")
    assert line.endswith(" | 'free disk %'=40.5;20:;10: it_s=0.000001;~:5 a_b=2")
    for datum in ("'free disk %'=40.5;20:;10:", "it_s=0.000001;~:5", "a_b=2"):
        assert PERFDATUM.match(datum), datum


def test_nagios_keeps_perfdata_labels_unique_across_steps_and_items():
    def counted(step_id: str, value: int, item=None) -> StepResult:
        ev = threshold("count", Status.OK, f"count = {value}", value, 10, 20)
        return StepResult(id=step_id, title="", action="sql", evaluations=[ev], item=item)

    parent = StepResult(id="each", title="", action="sql", children=[counted("each", 1, item=7)])
    run = make_run([counted("first", 1), counted("second", 2), parent])
    _, perfdata = nagios_parts(render_run(run, "nagios"))
    assert perfdata == [
        "first.count=1;~:10;~:20",
        "second.count=2;~:10;~:20",
        "each[7].count=1;~:10;~:20",
    ]


def test_nagios_names_failed_items_and_keeps_each_line_one_line():
    step = StepResult(
        id="import",
        title="",
        action="http",
        status=Status.CRITICAL,
        outcome="failed",
        error="HTTP 500 | body:\nInternal error",
    )
    output = render_run(make_run([for_each_step(), step], status=Status.CRITICAL), "nagios")
    assert output.splitlines() == [
        "ORDER-HEALTH CRITICAL - fix > staging_id=43 > restore: "
        "failed: deadlock victim on [dbo].[PS_DOC_HDR], "
        "import: failed: HTTP 500 / body: Internal error",
        # No hint: the line says what went wrong. The hint the engine lifted onto `fix`
        # is said once, at the step it came from.
        "CRITICAL import: failed: HTTP 500 / body: Internal error",
        "WARNING fix > staging_id=43 > restore: Run it again when the nightly import is done.",
    ]


def test_nagios_skipped_run_and_dry_run():
    skipped = make_run([], outcome="skipped", error="order-health is already running (pid 4242)")
    assert render_run(skipped, "nagios") == (
        "ORDER-HEALTH OK - skipped: order-health is already running (pid 4242)"
    )
    dry = make_run([StepResult(id="a", title="", action="sql")], mode="dry-run")
    assert (
        render_run(dry, "nagios") == "ORDER-HEALTH OK - dry run, nothing executed: 1 step rendered"
    )


@pytest.mark.parametrize(
    ("value", "warning", "critical", "direction", "datum"),
    [
        (37, 10, 50, "above", "n=37;~:10;~:50"),
        (-12, 10, 50, "above", "n=-12;~:10;~:50"),  # OK in the runbook, so OK in Nagios
        (-12, -5, 10, "above", "n=-12;~:-5;~:10"),
        (4, None, 0, "above", "n=4;;~:0"),
        (Decimal("-0.50"), Decimal("-0.25"), None, "above", "n=-0.5;~:-0.25"),
        (2.5, 10, 5, "below", "n=2.5;10:;5:"),
        (-3, -2, -10, "below", "n=-3;-2:;-10:"),
        (0, None, 1, "below", "n=0;;1:"),
        (1, None, None, "above", "n=1"),
    ],
)
def test_nagios_ranges_alert_on_one_side_at_any_sign(value, warning, critical, direction, datum):
    ev = threshold("n", Status.OK, "n", value, warning, critical, direction)
    step = StepResult(id="s", title="", action="sql", evaluations=[ev])
    _, perfdata = nagios_parts(render_run(make_run([step]), "nagios"))
    assert perfdata == [datum] and PERFDATUM.match(datum)


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("lag|x", "lag_x"),
        ("a=b", "a_b"),
        ("it's", "it_s"),
        ("free disk %", "'free disk %'"),
        ("two\nlines\tand  tabs", "'two lines and tabs'"),
        ("it's a|b=c", "'it_s a_b_c'"),
    ],
)
def test_nagios_perfdata_labels_are_cleaned(name, label):
    ev = threshold(name, Status.OK, "x", 1, 5)
    step = StepResult(id="s", title="", action="sql", evaluations=[ev])
    output = render_run(make_run([step]), "nagios")
    assert output == f"ORDER-HEALTH OK - all 1 check OK | {label}=1;~:5"
    assert PERFDATUM.match(output.partition(" | ")[2])


def test_nagios_through_a_real_run_with_negative_values_odd_labels_and_row_items(project):
    project.runbook(
        "temps",
        """
        runbook: temps
        connection: main
        steps:
          - id: temp
            sql: SELECT -12 AS "lag|x", -3 AS "a=b's c", 2.5 AS free_gb
            thresholds:
              "lag|x": {warning: -5, critical: 10}
              "a=b's c": {warning: -2, critical: -10, direction: below}
              free_gb: {warning: 10, critical: 5, direction: below}
            hint: |
              Look at the freezer.
              Then call facilities.
          - id: queues
            for_each:
              - {qname: queue 16, depth: 30}
              - {qname: queue 17, depth: 1}
            as: q
            steps:
              - id: depth
                sql: SELECT {{ q.depth }} AS depth
                thresholds:
                  depth: {warning: 10}
        """,
    )
    assert render_run(project.run("temps"), "nagios").splitlines() == [
        "TEMPS CRITICAL - a=b's c = -3 < warning -2, free_gb = 2.5 < critical 5, "
        "queues > qname=queue 16 > depth: depth = 30 > warning 10"
        " | lag_x=-12;~:-5;~:10 'a_b_s c'=-3;-2:;-10: free_gb=2.5;10:;5:"
        " 'queues[queue 16].depth.depth'=30;~:10 'queues[queue 17].depth.depth'=1;~:10",
        "CRITICAL temp: Look at the freezer.",
        "WARNING queues > qname=queue 16 > depth: depth = 30 > warning 10",
    ]


@pytest.mark.parametrize(
    ("item", "name"),
    [
        ({"qname": "queue 16", "depth": 30}, "qname=queue 16"),
        ({"depth": 30, "name": "queue 16"}, "name=queue 16"),
        ({"ID": 7, "x": 1}, "ID=7"),
        (("orders", 3), "orders=3"),  # an entry of a mapping walked by for_each
        (42, "42"),
        ("x" * 50, "x" * 39 + "…"),
    ],
)
def test_nagios_names_for_each_items_by_their_naming_column(item, name):
    child = StepResult(
        "each", str(item), "item", status=Status.CRITICAL, outcome="failed", item=item
    )
    child.children = [
        StepResult("run", "", "command", status=Status.CRITICAL, outcome="failed", error="exit 1")
    ]
    each = StepResult("each", "", "sql", status=Status.CRITICAL, children=[child])
    output = render_run(make_run([each], status=Status.CRITICAL), "nagios")
    assert output.splitlines() == [
        f"ORDER-HEALTH CRITICAL - each > {name} > run: failed: exit 1",
        f"CRITICAL each > {name} > run: failed: exit 1",
    ]


def many_items_run(count: int) -> RunResult:
    """A for_each of `count` items: the first is critical, the second warning, the rest ok."""
    statuses = [Status.CRITICAL, Status.WARNING, *[Status.OK] * (count - 2)]
    children = []
    for number, status in enumerate(statuses):
        ev = threshold("depth", status, f"depth = {number}", number, 10, 20)
        body = StepResult("depth", "", "sql", status=status, evaluations=[ev], hint="Drain it.")
        child = StepResult("q", f"n={number}", "item", status=status, item={"n": number})
        child.children = [body]
        children.append(child)
    each = StepResult("q", "", "sql", status=Status.CRITICAL, children=children)
    return make_run([each], status=Status.CRITICAL)


def test_nagios_output_is_bounded_keeping_the_worst_and_saying_what_was_cut():
    run = many_items_run(400)
    output = render_run(run, "nagios")
    assert len(output.encode()) <= 4096
    lines = output.splitlines()
    assert lines[0].startswith(
        "ORDER-HEALTH CRITICAL - q > n=0 > depth: depth = 0, q > n=1 > depth: depth = 1"
        " | q[0].depth.depth=0;~:10;~:20 q[1].depth.depth=1;~:10;~:20 q[2].depth.depth=2;"
    )
    assert lines[1:3] == [
        "CRITICAL q > n=0 > depth: Drain it.",
        "WARNING q > n=1 > depth: Drain it.",
    ]
    kept = len(lines[0].split(" | ")[1].split())
    assert lines[3:] == [f"... cut to 4096 bytes: {400 - kept} performance data left out"]
    assert render_run(many_items_run(3), "nagios", max_output=4096).count("cut to") == 0


@pytest.mark.parametrize(
    ("max_output", "expected"),
    [
        (
            220,
            [
                "ORDER-HEALTH CRITICAL - q > n=0 > depth: depth = 0, q > n=1 > depth: depth = 1"
                " | q[0].depth.depth=0;~:10;~:20",
                "CRITICAL q > n=0 > depth: Drain it.",
                "... cut to 220 bytes: 1 line and 3 performance data left out",
            ],
        ),
        (
            160,
            [
                "ORDER-HEALTH CRITICAL - q > n=0 > depth: depth = 0, q > n=1 > depth: depth = 1",
                "... cut to 160 bytes: 2 lines and 4 performance data left out",
            ],
        ),
        (60, ["ORDER-HEALTH CRITICAL - q > n=0 > depth: depth = 0, q > n..."]),
    ],
)
def test_nagios_cuts_lines_and_data_before_the_status_line(max_output, expected):
    output = render_run(many_items_run(4), "nagios", max_output=max_output)
    assert output.splitlines() == expected
    assert len(output.encode()) <= max_output


def test_nagios_max_output_from_the_command_line(project, capsys):
    from runner.cli.main import main

    project.runbook(
        "many",
        """
        runbook: many
        connection: main
        steps:
          - id: q
            for_each: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20]
            as: n
            steps:
              - id: depth
                sql: SELECT {{ n }} AS depth
                thresholds:
                  depth: {warning: 18, critical: 19}
                hint: Drain queue {{ n }}.
        """,
    )
    code = main(["run", "many", "--format", "nagios", "--max-output", "260"])
    out = capsys.readouterr().out
    assert code == 2 and len(out.rstrip("\n").encode()) <= 260
    assert out.splitlines() == [
        "MANY CRITICAL - q > 19 > depth: depth = 19 > warning 18, "
        "q > 20 > depth: depth = 20 > critical 19 | q[20].depth.depth=20;~:18;~:19",
        "CRITICAL q > 20 > depth: Drain queue 20.",
        "... cut to 260 bytes: 1 line and 19 performance data left out",
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("99", "must be at least 100 bytes, got 99"),
        ("-1", "must be at least 100 bytes, got -1"),
        ("4KB", "expected a number of bytes, got '4KB'"),
    ],
)
def test_nagios_max_output_must_be_a_number_of_bytes(project, capsys, value, expected):
    from runner.cli.main import main

    assert main(["run", "any", "--format", "nagios", "--max-output", value]) == 3
    message = {
        "99": "must be at least 100 bytes, got 99",
        "-1": "must be at least 100 bytes, got -1",
    }
    expected = message.get(value, f"expected a number of bytes, got {value!r}")
    assert f"error: argument --max-output: {expected}" in capsys.readouterr().err


# -- validation problems -----------------------------------------------------------------

PROBLEMS = [
    Problem(
        "unknown key 'thresold'",
        file="runbooks/orders/order-health.yaml",
        line=12,
        col=5,
        key="steps[0]",
        hint="did you mean 'thresholds'?",
    ),
    Problem("step id 'api' is never used", file="runbooks/a.yaml", line=3, severity="warning"),
]


def test_problems_text_lists_each_then_tallies():
    text = render_problems(PROBLEMS, "text", checked_files=4)
    assert lines_of(text) == [
        "runbooks/a.yaml:3: warning: step id 'api' is never used",
        "runbooks/orders/order-health.yaml:12:5: error: steps[0]: unknown key 'thresold' "
        "(did you mean 'thresholds'?)",
        "1 error, 1 warning in 4 files",
    ]
    assert render_problems([], "text", checked_files=1) == "1 file valid"


def test_problems_json():
    data = json.loads(render_problems(PROBLEMS, "json", checked_files=4))
    assert (data["valid"], data["files"], data["errors"], data["warnings"]) == (False, 4, 1, 1)
    assert data["problems"][1]["key"] == "steps[0]"
    only_warnings = json.loads(render_problems(PROBLEMS[1:], "json", checked_files=1))
    assert only_warnings["valid"] is True


def test_problems_github_annotations_escape_per_workflow_command_rules():
    tricky = Problem(
        "100% wrong,\r\nsee: docs",
        file="runbooks/a,b:c.yaml",
        line=7,
        col=2,
    )
    lines = lines_of(render_problems([tricky, PROBLEMS[1]], "github", checked_files=2))
    # Sorted by file name: "a," sorts before "a.".
    assert lines == [
        "::error file=runbooks/a%2Cb%3Ac.yaml,line=7,col=2,title=runbook validate::"
        "100%25 wrong,%0D%0Asee: docs",
        "::warning file=runbooks/a.yaml,line=3,title=runbook validate::step id 'api' is never used",
        "1 error, 1 warning in 2 files",
    ]


# -- history, list, show -----------------------------------------------------------------

HISTORY = [
    {
        "run_id": "20261124T101500Z-cd34ef",
        "runbook": "order-health",
        "status": "CRITICAL",
        "outcome": "aborted",
        "mode": "run",
        "trigger": "schedule",
        "user": "svc",
        "host": "web1",
        "started": "2026-11-24T10:15:00+00:00",
        "ended": "2026-11-24T10:15:03+00:00",
        "duration": 3.1,
        "error": "interrupted by SIGTERM",
    },
    {
        "run_id": RUN_ID,
        "runbook": "order-health",
        "status": "OK",
        "outcome": "completed",
        "mode": "dry-run",
        "trigger": "manual",
        "user": "ops",
        "host": "web1",
        "started": STARTED,
        "ended": STARTED + timedelta(seconds=0.42),
        "duration": 0.42,
        "error": None,
    },
]


def test_history_text_is_a_table_newest_first():
    text = render_history(HISTORY, "text")
    assert row(text, "Started / Run", "Runbook", "Status", "Took", "By", "Note")
    assert row(
        text,
        "2026-11-24T10:15:00.000Z",
        "order-health",
        "CRITICAL",
        "3.10s",
        "schedule",
        "aborted: interrupted by",
    )
    # The second line of a run: its id, who ran it where, and the note wrapped at a word.
    assert row(text, "20261124T101500Z-cd34ef", "svc@web1", "SIGTERM")
    assert row(text, "2026-11-24T09:15:00.000Z", "order-health", "OK", "0.42s", "manual", "dry-run")
    assert row(text, RUN_ID, "ops@web1")
    assert text.index("10:15:00.000Z") < text.index("09:15:00.000Z")
    assert lines_of(text)[-1] == "2 runs"
    assert not ANSI.search(text)


def test_history_shows_a_run_still_going():
    running = {**HISTORY[1], "status": None, "outcome": "running", "ended": None, "duration": None}
    text = render_history([running], "text")
    assert row(
        text, "2026-11-24T09:15:00.000Z", "order-health", "running", "manual", "dry-run, running"
    )


def test_history_json_and_empty():
    data = json.loads(render_history(HISTORY, "json"))
    assert [entry["run_id"] for entry in data] == ["20261124T101500Z-cd34ef", RUN_ID]
    # Every timestamp in the one format, whatever form it had: offset text, a datetime.
    assert (data[0]["started"], data[0]["ended"]) == (
        "2026-11-24T10:15:00.000Z",
        "2026-11-24T10:15:03.000Z",
    )
    assert (data[1]["started"], data[1]["ended"]) == (
        "2026-11-24T09:15:00.000Z",
        "2026-11-24T09:15:00.420Z",
    )
    assert render_history([], "text") == "No runs recorded."


RUNBOOKS = [
    {
        "name": "order-health",
        "kind": "health-check",
        "title": "Order pipeline - morning health check",
        "schedule": "0 * * * *",
        "path": "runbooks/orders/order-health.yaml",
        "tags": ["orders", "daily"],
    },
    {
        "name": "fix-failed-order",
        "kind": "rollback",
        "title": "Undo one failed order",
        "schedule": None,
        "path": "runbooks/orders/fix-failed-order.yaml",
        "tags": [],
    },
]


def test_runbook_list():
    text = render_runbook_list(RUNBOOKS, "text")
    assert row(
        text,
        "order-health",
        "health-check",
        "0 * * * *",
        "Order pipeline - morning health check",
        "orders, daily",
    )
    assert row(text, "fix-failed-order", "rollback", "Undo one failed order")
    assert lines_of(text)[-1] == "2 runbooks"
    assert max(len(line) for line in lines_of(text)) <= 100
    assert json.loads(render_runbook_list(RUNBOOKS, "json")) == RUNBOOKS
    assert render_runbook_list([], "text") == "No runbooks found."


DETAIL = {
    "name": "order-health",
    "title": "Order pipeline - morning health check",
    "kind": "health-check",
    "description": "Pending orders should be below 10 and none older than an hour.",
    "tags": ["orders", "daily"],
    "schedule": "0 * * * *",
    "timezone": "Europe/Berlin",
    "connection": "orders",
    "path": "runbooks/orders/order-health.yaml",
    "inputs": [
        {
            "name": "stale_minutes",
            "type": "integer",
            "default": 60,
            "required": False,
            "description": "Minutes before a pending order is stale",
        },
        {"name": "store", "type": "string", "default": None, "required": True, "description": ""},
    ],
    "steps": [
        {
            "id": "pending",
            "title": "Pending orders",
            "action": "sql",
            "thresholds": [
                {"name": "pending_count", "warning": 10, "critical": 50, "direction": "above"},
                {"name": "free_slots", "warning": 5, "critical": None, "direction": "below"},
            ],
            "hint": "If orders are stuck, check that order-processing ran in the last hour.",
        },
        {
            "id": "fix",
            "title": "Fix each failed order",
            "action": "group",
            "thresholds": [],
            "hint": None,
            "steps": [
                {
                    "id": "retry",
                    "title": "",
                    "action": "check",
                    "target": "order-retry",
                    "thresholds": [{"name": "left", "warning": None, "critical": 1}],
                    "hint": "Ask the shop team.",
                }
            ],
        },
    ],
    "notify": {"warning": ["ops"], "critical": ["ops", "oncall"], "repeat": "4h"},
}


def test_runbook_detail_reads_like_a_runbook_page():
    text = render_runbook_detail(DETAIL, "text")
    assert lines_of(text)[:4] == [
        "order-health: Order pipeline - morning health check",
        "kind: health-check   schedule: 0 * * * * (Europe/Berlin)   connection: orders",
        "tags: orders, daily",
        "file: runbooks/orders/order-health.yaml",
    ]
    assert "Pending orders should be below 10 and none older than an hour." in text
    assert row(
        text, "stale_minutes", "integer", "default 60", "Minutes before a pending order is stale"
    )
    assert row(text, "store", "string", "required")
    steps = text[text.index("Steps") :]
    assert lines_of(steps)[:10] == [
        "Steps",
        "  1. pending - Pending orders (sql)",
        "     pending_count: warning above 10, critical above 50",
        "     free_slots: warning below 5",
        "     hint: If orders are stuck, check that order-processing ran in the last hour.",
        "  2. fix - Fix each failed order (group)",
        "     1. retry (check: order-retry)",
        "        left: critical above 1",
        "        hint: Ask the shop team.",
        "",
    ]
    assert "Notify\n  warning: ops\n  critical: ops, oncall\n  repeat: 4h" in text


def test_runbook_detail_json_carries_format_version():
    data = json.loads(render_runbook_detail(DETAIL, "json"))
    assert data["format_version"] == 1
    assert data["steps"][0]["thresholds"][0]["warning"] == 10


@pytest.mark.parametrize(
    ("render", "fmt"),
    [
        (lambda fmt: render_run(make_run([]), fmt), "github"),
        (lambda fmt: render_problems([], fmt, checked_files=0), "nagios"),
        (lambda fmt: render_history([], fmt), "nagios"),
    ],
    ids=["run", "problems", "history"],
)
def test_unknown_format_is_refused_with_the_choices(render, fmt):
    with pytest.raises(ValueError, match=f"unknown format '{fmt}': use one of text, json"):
        render(fmt)


def test_stored_text_cannot_drive_the_terminal_of_whoever_reads_history(project, capsys) -> None:
    """A --trigger (or an error a server sent) with escape sequences is shown without them."""
    import json

    from runner.cli.main import main

    project.runbook(
        "t", "runbook: t\nconnection: main\nsteps:\n  - {id: one, sql: SELECT 1 AS n}\n"
    )
    hostile = "\x1b[31mRED\x1b[0m\x1b]0;owned\x07\x08x"
    assert main(["run", "t", "--trigger", hostile, "--format", "json"]) == 0
    run_id = json.loads(capsys.readouterr().out)["run_id"]
    for argv in (["history"], ["history", "--run", run_id]):
        assert main(argv) == 0
        out = capsys.readouterr().out
        assert "\x1b" not in out and "\x07" not in out and "\x08" not in out, argv
        assert "REDx" in out, argv
    assert main(["history", "--format", "json"]) == 0  # JSON keeps the text, escaped
    assert json.loads(capsys.readouterr().out)[0]["trigger"] == hostile


# -- GitHub annotations name files from the repository root -------------------------------


@pytest.fixture
def nested_repository(tmp_path, monkeypatch):
    """A repository whose runbook project lives in ops/, with one broken runbook."""
    from conftest import Project

    (tmp_path / ".git").mkdir()
    (tmp_path / "ops").mkdir()
    project = Project(tmp_path / "ops")
    project.runbook("bad", "runbook: bad\nkind: health-check\ncolour: red\nsteps: []\n")
    monkeypatch.delenv("GITHUB_WORKSPACE", raising=False)
    monkeypatch.delenv("RUNBOOK_CONFIG", raising=False)
    return tmp_path


def _github_files(capsys, *args: str) -> list[str]:
    from runner.cli import main

    assert main(["--config", *args, "--format", "github"]) == 1
    out = capsys.readouterr().out
    return re.findall(r"^::error file=([^,]*),", out, re.MULTILINE)


def test_github_annotations_are_relative_to_the_repository_root(
    nested_repository, capsys, monkeypatch
):
    monkeypatch.chdir(nested_repository / "ops" / "runbooks")
    files = _github_files(capsys, "../runner.yaml", "validate", "bad.yaml")
    assert files and set(files) == {"ops/runbooks/bad.yaml"}
    monkeypatch.chdir(nested_repository / "ops")
    assert set(_github_files(capsys, "runner.yaml", "validate")) == {"ops/runbooks/bad.yaml"}


def test_github_annotations_follow_github_workspace(nested_repository, capsys, monkeypatch):
    monkeypatch.chdir(nested_repository / "ops" / "runbooks")
    monkeypatch.setenv("GITHUB_WORKSPACE", str(nested_repository / "ops"))
    assert set(_github_files(capsys, "../runner.yaml", "validate", "bad.yaml")) == {
        "runbooks/bad.yaml"
    }


def test_github_annotations_outside_a_repository_name_files_as_given(tmp_path, monkeypatch):
    from runner.reports.render import repository_root

    monkeypatch.delenv("GITHUB_WORKSPACE", raising=False)
    problem = Problem("broken", file="runbooks/a.yaml", line=1)
    root = repository_root(tmp_path, {})
    if root is not None:  # the temporary folder is itself inside a repository
        pytest.skip(f"{tmp_path} is inside the repository {root}")
    monkeypatch.chdir(tmp_path)
    text = render_problems([problem], "github", checked_files=1)
    assert text.startswith("::error file=runbooks/a.yaml,line=1,")


def test_one_timestamp_format_from_every_source():
    from runner.base.timestamps import timestamp, timestamp_text

    assert timestamp(datetime(2026, 11, 30, 22, 15, 3, 123456, tzinfo=UTC)) == (
        "2026-11-30T22:15:03.123Z"
    )
    assert timestamp(datetime(2026, 11, 30, 23, 15, 3, tzinfo=timezone(timedelta(hours=1)))) == (
        "2026-11-30T22:15:03.000Z"
    )
    assert timestamp_text("2026-11-30T22:15:03.123456Z") == "2026-11-30T22:15:03.123Z"  # stored
    assert timestamp_text("2026-11-30T22:15:03+00:00") == "2026-11-30T22:15:03.000Z"
    assert timestamp_text(None) is None
    assert timestamp_text("not a time") == "not a time"


def test_a_template_error_in_a_run_names_its_place_once(project, capsys):
    from runner.cli import main

    project.runbook(
        "t",
        """
        runbook: t
        kind: health-check
        steps:
          - id: b
            command: [echo, "{{ inputs.n.foo }}"]
        inputs:
          n: {type: integer, default: 1}
        """,
    )
    assert main(["run", "t"]) == 3
    out = capsys.readouterr().out
    notes = out[out.index("b (b): UNKNOWN") :]
    assert lines_of(notes)[:2] == [
        "b (b): UNKNOWN",
        "  failed: runbooks/t.yaml:4:5: steps[0]: undefined: int has no attribute 'foo'",
    ]
    assert out.count("runbooks/t.yaml:4:5") == 2  # the table's cell and the note, not a third
