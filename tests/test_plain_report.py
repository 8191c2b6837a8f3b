"""The text report without colour is drawn without rich (reports/plain.py), byte for byte
as rich draws it (issue 11, point 1): many reports are drawn both ways and compared.

`plain.draw` answers None where it leaves the drawing to rich; the tests say which
reports it must draw itself, so a plain drawer that gave up on everything would fail.
That a piped text run imports no rich at all: tests/test_imports.py.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from runner.base.status import Status
from runner.language.results import Attempt, Evaluation, ItemsSummary, RunResult, StepResult
from runner.reports import plain, text
from runner.reports.render import render_run

REPO = Path(__file__).resolve().parent.parent
STARTED = datetime(2026, 11, 24, 9, 15, 0, tzinfo=UTC)
WIDTHS = (100, 80, 60, 40, 132, 200)


def _run(steps: list[StepResult], **changes: object) -> RunResult:
    run = RunResult(
        run_id="20261124T091500Z-ab12cd",
        runbook="order-health",
        title="Order pipeline - morning health check",
        status=Status.CRITICAL,
        started=STARTED,
        ended=STARTED + timedelta(seconds=0.42),
        steps=steps,
    )
    for key, value in changes.items():
        setattr(run, key, value)
    return run


def _check(name: str, status: Status, text_: str, value: object = 1) -> Evaluation:
    return Evaluation(name=name, status=status, text=text_, value=value, warning=1, critical=2)


def _sql(step_id: str, status: Status = Status.OK, **changes: object) -> StepResult:
    step = StepResult(id=step_id, title=step_id.replace("_", " ").title(), action="sql")
    step.status = status
    step.duration = 0.12
    step.values = {"rows": [{"n": 1}], "columns": ["n"], "rowcount": 1}
    for key, value in changes.items():
        setattr(step, key, value)
    return step


def _attempts(count: int, outcome: str = "failed") -> list[Attempt]:
    return [Attempt(n, STARTED, 1.0, outcome, "no answer") for n in range(1, count + 1)]


def _items(count: int, bad_every: int, *, folded: bool) -> StepResult:
    """A for_each of `count` items, every `bad_every`-th one CRITICAL; the OK ones kept
    only as counts when `folded` (as the engine keeps a large run)."""
    children = []
    counts = {"OK": 0, "CRITICAL": 0}
    for number in range(1, count + 1):
        bad = number % bad_every == 0
        counts["CRITICAL" if bad else "OK"] += 1
        if folded and not bad:
            continue
        child = _sql(
            "probe",
            Status.CRITICAL if bad else Status.OK,
            item={"staging_id": number, "name": f"queue {number}"},
            evaluations=[
                _check("v", Status.CRITICAL if bad else Status.OK, f"v = {number} > critical 2")
            ],
            hint="Requeue it: runbook run order-retry --param staging_id=<id>" if bad else None,
        )
        children.append(child)
    summary = ItemsSummary(
        counts={key: value for key, value in counts.items() if value},
        ok_values={"probe.v": {"count": counts["OK"], "min": 0, "max": 90, "avg": 45.5}},
        folded=counts["OK"] if folded else 0,
    )
    return _sql(
        "each_queue",
        Status.CRITICAL if counts["CRITICAL"] else Status.OK,
        action="for_each",
        children=children,
        items_summary=summary,
        error=f"{counts['CRITICAL']} of {count} items failed" if counts["CRITICAL"] else None,
        duration=61.5,
    )


LONG_HINT = (
    "The processor last ran 72 minutes ago and failed: runbook run order-troubleshoot\n"
    "Its last error: Connection failed: [08001] TCP Provider: No connection could be made "
    "because the target machine actively refused it (this line is much wider than any "
    "terminal)\n        Process the waiting orders now:   runbook run order-processing   \n"
)
URL = "https://shop.example.com/api/v3/orders/" + "x" * 150 + "?page=2&per_page=100"


def synthetic_runs() -> Iterator[tuple[str, RunResult, bool]]:
    """(name, run, all_items): what the text report has to draw."""
    mixed = [
        _sql(
            "pending",
            Status.WARNING,
            evaluations=[
                _check("pending_count", Status.WARNING, "pending_count = 37 > warning 10"),
                _check("oldest_minutes", Status.OK, "oldest_minutes = 55 <= warning 60"),
            ],
            hint="If orders are stuck, check that order-processing ran in the last hour.",
            origin="runbooks/orders/health.yaml:14:5: steps[0]",
        ),
        _sql(
            "api",
            Status.CRITICAL,
            action="http",
            outcome="timed_out",
            attempts=_attempts(3, "timed_out"),
            error="no answer from http://127.0.0.1:8080/health within 5s",
            hint=LONG_HINT,
            duration=15.2,
        ),
        _sql("failed", Status.CRITICAL, outcome="failed", error="line one\nline two\n  indented"),
        _sql("ok_one"),
        _sql("skipped_one", Status.SKIPPED, outcome="skipped", error="when: was false"),
        _sql("never", Status.SKIPPED, outcome="not_run"),
    ]
    yield "mixed", _run(mixed), False
    yield "all ok", _run([_sql("a"), _sql("b", duration=303.0)], status=Status.OK), False
    yield "no steps, skipped", _run([], status=Status.UNKNOWN, outcome="skipped"), False
    yield (
        "no steps, invalid",
        _run([], status=Status.UNKNOWN, outcome="invalid", error="bad"),
        False,
    )
    wide = [
        _sql("wide_value", Status.CRITICAL, outcome="failed", error=f"GET {URL} answered 503"),
        _sql("spaces", Status.WARNING, evaluations=[_check("s", Status.WARNING, "a    " * 40)]),
        _sql("lead", Status.OK, evaluations=[_check("l", Status.OK, "     " + "word " * 30)]),
        _sql("only_spaces", Status.OK, evaluations=[_check("o", Status.OK, " " * 130)]),
        _sql("a_step_id_that_is_much_longer_than_twenty_eight", Status.OK),
        _sql("many", Status.OK, evaluations=[_check(f"c{n}", Status.OK, f"c{n} = {n}") for n in range(8)]),
        _sql("folds", Status.CRITICAL, error="x" * 97 + " " + "y" * 250, outcome="failed"),
    ]  # fmt: skip
    yield "wide values", _run(wide), False
    unicode_note = [
        _sql("queue", Status.CRITICAL, evaluations=[_check("q", Status.CRITICAL, "q = 9")],
             hint="Prüfen Sie den Dienst: 東京の注文 🚚\nñandú e\u0301 \u200b zero width"),
    ]  # fmt: skip
    yield (
        "unicode in notes",
        _run(unicode_note, runbook="prüfung", error="Zeitüberschreitung — 東京 ✓\n\u2028second"),
        False,
    )
    unicode_cell = [_sql("naïve", evaluations=[_check("名前", Status.OK, "名前 = 東京")])]
    yield "unicode in a cell", _run(unicode_cell, title="Prüfung 東京"), False
    yield "tab in a cell", _run([_sql("tabbed", error="a\tb", outcome="failed")]), False
    yield "tab in a hint", _run([_sql("h", Status.WARNING, hint="col1\tcol2")]), False
    yield "large, summarised", _run([_items(10_000, 97, folded=True)]), False
    yield "medium, summarised", _run([_items(60, 7, folded=False)]), False
    yield "medium, --all-items", _run([_items(60, 7, folded=False)]), True
    yield "small loop", _run([_items(5, 2, folded=False)]), False
    masked = _run(
        [_sql("login", Status.CRITICAL, outcome="failed", error="password ******** refused")],
        inputs={"user": "ops", "password": "********", "note": "z" * 80},
    )
    yield "secrets masked", masked, False
    nested = _sql(
        "group",
        Status.CRITICAL,
        action="group",
        children=[
            _sql("inner", Status.CRITICAL, outcome="failed", error="deadlock", hint="Retry."),
            _sql("inner_ok", children=[_sql("deepest")]),
        ],
        hint="Retry.",
    )
    yield "nested groups", _run([nested]), False
    deadline = [
        _sql("first", Status.WARNING, evaluations=[_check("v", Status.WARNING, "v = 2 > warning 1")]),
        _sql("slow", Status.UNKNOWN, outcome="timed_out",
             error="cancelled: the run's deadline of 5s was reached"),
        _sql("later", Status.SKIPPED, outcome="not_run",
             error="not run: the run's deadline of 5s was reached"),
    ]  # fmt: skip
    yield (
        "deadline",
        _run(deadline, status=Status.UNKNOWN, error="deadline of 5s reached during step slow"),
        False,
    )
    yield (
        "aborted",
        _run(
            [_sql("cut", Status.UNKNOWN, outcome="aborted")],
            status=Status.UNKNOWN,
            outcome="aborted",
        ),
        False,
    )
    yield "not recorded", _run([_sql("a")], not_recorded="the state store is locked"), False
    notifications = [
        {"ok": True, "kind": "new", "status": "CRITICAL", "tags": ["ops"], "url": "json://h/x"},
        {"ok": False, "kind": "new", "status": "CRITICAL", "tags": ["oncall"], "attempts": 3,
         "url": "mailto://***@example.com", "error": "connection refused"},
    ]  # fmt: skip
    yield "notifications", _run([_sql("a")], notifications=notifications), False
    rendered = [
        _sql("q", rendered={"sql": "SELECT *\nFROM orders\nWHERE id = ?", "params": [42],
                            "connection": "main", "file": "sql/q.sql"}),
        _sql("h", action="http", rendered={"method": "post", "url": URL, "json": {"a": [1, 2]}}),
        _sql("c", action="command", rendered={"argv": ["echo", "a b"]}),
    ]  # fmt: skip
    yield "dry-run", _run(rendered, mode="dry-run", status=Status.OK), False
    yield "rehearse", _run(rendered, mode="rehearse", status=Status.OK), False
    yield (
        "dry-run, SQL with a tab",
        _run([_sql("t", rendered={"sql": "SELECT\t1", "params": []})], mode="dry-run"),
        False,
    )
    control = _sql("ctl", Status.CRITICAL, outcome="failed", error="\x1b[31mred\x1b[0m\rback\x07")
    yield "control characters", _run([control], trigger="cron\x1b]0;title\x07"), False
    yield "newline in a label", _run([_sql("t", title="two\nlines", item="a\nb")]), False


def _both_ways(run: RunResult, width: int, all_items: bool) -> tuple[str | None, str]:
    printed = text.run_report(run, all_items)
    return plain.draw(printed, width), text.draw_with_rich(printed, color=False, width=width)


#: Reports plain.py leaves to rich: a tab, or a table cell that is not plain ASCII.
LEFT_TO_RICH = {"unicode in a cell", "tab in a cell", "tab in a hint", "dry-run, SQL with a tab"}


@pytest.mark.parametrize("width", WIDTHS)
def test_plain_text_is_what_rich_draws_for_every_kind_of_report(width: int) -> None:
    drawn_plain = 0
    for name, run, all_items in synthetic_runs():
        drawn, by_rich = _both_ways(run, width, all_items)
        if name in LEFT_TO_RICH:
            assert drawn is None, name
        elif drawn is not None:
            drawn_plain += 1
            assert drawn == by_rich, f"{name} at width {width}"
        else:  # below 60 columns a table may not fit by folding Result alone
            assert width < 60, f"{name} at width {width}: left to rich"
    assert drawn_plain >= 10


def test_a_table_too_narrow_to_fold_is_left_to_rich() -> None:
    run = _run([_sql("a_step_id_that_is_much_longer_than_twenty_eight", duration=1234.5)])
    drawn, by_rich = _both_ways(run, 30, False)
    assert drawn is None
    assert "a_step_id" in by_rich


def test_render_run_draws_text_without_colour_the_plain_way(monkeypatch) -> None:
    run = next(run for name, run, _ in synthetic_runs() if name == "mixed")
    expected = text.draw_with_rich(text.run_report(run, False), color=False, width=100)
    monkeypatch.setattr(text, "draw_with_rich", _no_rich)
    assert render_run(run, "text", color=False) == expected


def _no_rich(*args: object, **kwargs: object) -> str:
    raise AssertionError("rich was asked to draw")


#: What the demo's runbooks that require inputs are given.
PARAMS = {
    "order-retry": {"staging_id": "58"},
    "order-rollback": {"staging_ids": "58,62", "reason": "a test of the text report"},
}


@pytest.fixture(scope="module")
def demo_runs(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, RunResult]]:
    """Every shipped runbook run on the demo: for real, dry-run and rehearsed."""
    from runner.language.config import load_config
    from runner.language.library import Library
    from runner.service.runs import RunRequest, RunService
    from runner.steps import STEP_TYPES

    root = tmp_path_factory.mktemp("demo")
    shutil.copy(REPO / "runner.yaml", root / "runner.yaml")
    for part in ("runbooks", "sql", "checks"):
        shutil.copytree(REPO / part, root / part)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        patch.delenv("RUNBOOK_CONFIG", raising=False)
        library = Library(load_config(root / "runner.yaml"), STEP_TYPES)
        service = RunService(
            library.config, sleep=lambda seconds: None, log=lambda message: None, interactive=False
        )
        runs = []
        names = library.names()
        for mode in ("run", "dry-run", "rehearse"):
            for name in names:
                params = PARAMS.get(name, {})
                request = RunRequest(name, params, mode=mode, assume_yes=True)
                runs.append((f"{name} ({mode})", service.run(request)))
    return runs


def test_plain_text_is_what_rich_draws_for_every_shipped_runbook(demo_runs) -> None:
    assert len(demo_runs) >= 30
    drawn_plain = 0
    for name, run in demo_runs:
        for width in (100, 72):
            drawn, by_rich = _both_ways(run, width, False)
            if drawn is not None:
                drawn_plain += 1
                assert drawn == by_rich, f"{name} at width {width}"
    assert drawn_plain >= len(demo_runs)  # at least one width of each, in practice all
