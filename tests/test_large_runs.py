"""Large runs stay small (issue 11, point 3): a long `for_each` keeps its bad items in full
and folds the OK ones into counts and per-threshold count/min/max/avg, in the report
(text, json, nagios) and in the state store; `record: all` and `--all-items` keep them."""

from __future__ import annotations

import json
import re
import sqlite3
from decimal import Decimal

import pytest

from runner.cli import main
from runner.history.store import StateStore


def loop(items: int, *, record: str | None = None, warning: int = 10**9) -> str:
    """A runbook of one for_each over range(items), `SELECT n AS v` with a threshold on v:
    v above `warning` is WARNING, above warning + 2 CRITICAL."""
    extra = f"\n            record: {record}" if record else ""
    return f"""
        runbook: big
        kind: health-check
        connection: main
        steps:
          - id: each
            for_each: "{{{{ range({items}) | list }}}}"
            as: n{extra}
            steps:
              - id: probe
                sql: "SELECT {{{{ n }}}} AS v"
                thresholds:
                  v: {{warning: {warning}, critical: {warning + 2}}}
        """


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(list(args))
    out, _ = capsys.readouterr()
    return code, out


def store_rows(project) -> list[tuple]:
    with sqlite3.connect(project.root / "var" / "runner.db") as db:
        return db.execute(
            "SELECT step_id, title, status, items_json FROM step_results ORDER BY seq"
        ).fetchall()


def test_text_lists_the_counts_the_bad_items_and_how_many_more_are_ok(project, capsys):
    project.runbook("big", loop(100, warning=95))

    code, out = cli(capsys, "run", "big")

    assert code == 2
    lines = out.splitlines()
    each = lines.index(next(line for line in lines if line.startswith("each ")))
    assert lines[each].split() == ["each", "CRITICAL", "100", "items:", "2", "critical,",
                                   "2", "warning,", "96", "ok", *lines[each].split()[10:]]  # fmt: skip
    assert lines[each + 1].strip() == "4 of 100 items failed"
    assert [line.split()[:2] for line in lines[each + 2 : each + 10]] == [
        ["96", "WARNING"], ["probe", "WARNING"], ["97", "WARNING"], ["probe", "WARNING"],
        ["98", "CRITICAL"], ["probe", "CRITICAL"], ["99", "CRITICAL"], ["probe", "CRITICAL"],
    ]  # fmt: skip
    assert lines[each + 10] == "  ...                  and 96 more OK"
    assert lines[each + 11] == (
        "  ...                  OK items: probe.v count 96, min 0, max 95, avg 47.5"
    )
    assert len(lines) < 30


def test_text_lists_at_most_twenty_bad_items(project, capsys):
    project.runbook("big", loop(100, warning=-5))  # every item CRITICAL

    _, out = cli(capsys, "run", "big")

    items = [line for line in out.splitlines() if re.match(r"  \d+ +CRITICAL ", line)]
    assert len(items) == 20
    assert "  ...                  and 80 more CRITICAL" in out.splitlines()


def test_all_items_lists_every_item(project, capsys):
    project.runbook("big", loop(50))

    _, folded = cli(capsys, "run", "big")
    _, every = cli(capsys, "run", "big", "--all-items")

    assert "and 50 more OK" in folded
    assert sum(1 for line in folded.splitlines() if line.startswith("    probe ")) == 0
    assert sum(1 for line in every.splitlines() if line.startswith("    probe ")) == 50
    assert "more OK" not in every


def test_json_lists_bad_items_and_counts_the_rest(project, capsys):
    project.runbook("big", loop(100, warning=97))

    code, out = cli(capsys, "run", "big", "--format", "json")

    each = json.loads(out)["steps"][0]
    assert code == 1
    assert each["items_summary"] == {
        "counts": {"OK": 98, "WARNING": 2},
        "ok_values": {"probe.v": {"count": 98, "min": 0, "max": 97, "avg": 48.5}},
        "folded": 98,
        "shown": 2,
        "omitted": 98,
    }
    assert [child["title"] for child in each["children"]] == ["98", "99"]
    assert each["values"] == {"items": 100, "failed": 2, "succeeded": 98}

    _, every = cli(capsys, "run", "big", "--format", "json", "--all-items")
    each = json.loads(every)["steps"][0]
    assert len(each["children"]) == 100
    assert each["items_summary"]["shown"] == 100
    assert each["items_summary"]["omitted"] == 0


def test_nagios_long_output_lists_the_bad_items_first(project, capsys):
    project.runbook("big", loop(100, warning=96))

    code, out = cli(capsys, "run", "big", "--format", "nagios")

    assert code == 2
    lines = out.splitlines()
    assert lines[1:] == [
        "CRITICAL each > 99 > probe: v = 99 > critical 98",
        "WARNING each > 97 > probe: v = 97 > warning 96",
        "WARNING each > 98 > probe: v = 98 > warning 96",
    ]
    assert lines[0].startswith("BIG CRITICAL - each > 97 > probe: v = 97 > warning 96, ")


def test_a_short_loop_is_kept_and_listed_whole(project, capsys):
    project.runbook("big", loop(5))

    _, out = cli(capsys, "run", "big")

    assert sum(1 for line in out.splitlines() if line.startswith("    probe ")) == 5
    assert "more OK" not in out


def test_the_store_keeps_bad_items_in_full_and_aggregates_the_ok_ones(project, capsys):
    project.runbook("big", loop(2000, warning=1997))

    cli(capsys, "run", "big")

    rows = store_rows(project)
    # The for_each row, and the two bad items with their probe: nothing of the OK ones.
    assert [(step, title, status) for step, title, status, _ in rows] == [
        ("each", "each", "WARNING"),
        ("each", "1998", "WARNING"),
        ("probe", "probe", "WARNING"),
        ("each", "1999", "WARNING"),
        ("probe", "probe", "WARNING"),
    ]
    assert json.loads(rows[0][3]) == {
        "counts": {"OK": 1998, "WARNING": 2},
        "ok_values": {"probe.v": {"count": 1998, "min": 0, "max": 1997, "avg": 998.5}},
        "folded": 1998,
    }


def test_a_failing_item_is_kept_in_full_with_its_error_and_values(project, capsys):
    project.runbook(
        "big",
        """
        runbook: big
        kind: health-check
        connection: main
        steps:
          - id: each
            for_each: "{{ range(50) | list }}"
            as: n
            steps:
              - id: probe
                command: [sh, -c, "test {{ n }} != 33 || { echo broken >&2; exit 3; }"]
              - id: after
                sql: "SELECT {{ n }} * 2 AS w"
        """,
    )
    cli(capsys, "run", "big")

    _, out = cli(capsys, "history", "--run", StateStore(project.root / "var" / "runner.db")
                 .history()[0]["run_id"], "--format", "json")  # fmt: skip
    each = json.loads(out)["steps"][0]
    assert [child["title"] for child in each["children"]] == ["33"]
    item = each["children"][0]
    assert item["item"] == 33
    probe, after = item["children"]
    assert probe["status"] == "CRITICAL"
    assert probe["outcome"] == "failed"
    assert "3" in probe["error"]
    assert probe["values"]["exit_code"] == 3
    assert probe["values"]["stderr"].strip() == "broken"
    assert after["values"]["value"] == 66
    assert each["items_summary"]["counts"] == {"OK": 49, "CRITICAL": 1}
    assert each["items_summary"]["shown"] == 1
    assert each["items_summary"]["omitted"] == 49


def test_history_shows_the_aggregate_of_the_ok_items(project, capsys):
    project.runbook("big", loop(30, warning=28))
    cli(capsys, "run", "big")
    run_id = StateStore(project.root / "var" / "runner.db").history()[0]["run_id"]

    _, out = cli(capsys, "history", "--run", run_id)

    assert "30 items: 1 warning, 29 ok" in out
    assert "... and 29 more OK" in " ".join(out.split())
    assert "... OK items: probe.v count 29, min 0, max 28, avg 14" in " ".join(out.split())
    _, every = cli(capsys, "history", "--run", run_id, "--all-items")
    assert "and 29 more OK" in every  # folded at run time: not in the store to show


def test_record_all_keeps_every_item_in_the_store_and_the_report_still_summarises(project, capsys):
    project.runbook("big", loop(30, record="all"))

    _, out = cli(capsys, "run", "big")

    rows = store_rows(project)
    assert sum(1 for step, *_ in rows if step == "probe") == 30
    assert "and 30 more OK" in out
    run_id = StateStore(project.root / "var" / "runner.db").history()[0]["run_id"]
    _, every = cli(capsys, "history", "--run", run_id, "--all-items")
    assert sum(1 for line in every.splitlines() if line.startswith("    probe ")) == 30


def test_record_accepts_only_bad_or_all(project, capsys):
    project.runbook("big", loop(3, record="some"))

    code, out = cli(capsys, "validate", "runbooks")

    assert code != 0
    assert "error: steps[0].record: 'some' is not one of: bad, all" in out


def test_a_2000_item_run_adds_little_to_the_store(project, capsys):
    """The target is 200 KB for 10,000 items; 2,000 OK items must add far under a fifth."""
    project.runbook("big", loop(2000))
    cli(capsys, "run", "big")  # the store's tables exist: what follows is one run's growth
    database = project.root / "var" / "runner.db"

    def size() -> int:
        with sqlite3.connect(database) as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            pages = db.execute("PRAGMA page_count").fetchone()[0]
            free = db.execute("PRAGMA freelist_count").fetchone()[0]
            page = db.execute("PRAGMA page_size").fetchone()[0]
        return (pages - free) * page

    before = size()
    cli(capsys, "run", "big")
    assert size() - before <= 40_000
    with sqlite3.connect(database) as db:
        stored = db.execute(
            "SELECT SUM(LENGTH(values_json) + LENGTH(evaluations_json) + LENGTH(attempts_json)"
            " + COALESCE(LENGTH(item_json), 0) + COALESCE(LENGTH(items_json), 0))"
            " FROM step_results WHERE run_id = (SELECT MAX(run_id) FROM runs)"
        ).fetchone()[0]
    assert stored <= 40_000 // 5  # per run: the for_each row, not 2,000 items


def test_record_all_stores_every_item_and_grows_with_them(project, capsys):
    """The bound above can fail: the same run with `record: all` stores far more."""
    project.runbook("big", loop(2000, record="all"))
    cli(capsys, "run", "big")
    rows = store_rows(project)
    assert len(rows) == 1 + 2 * 2000


def test_nagios_counts_the_checks_of_folded_items(project, capsys):
    project.runbook("big", loop(1000))

    code, out = cli(capsys, "run", "big", "--format", "nagios")

    assert (code, out) == (0, "BIG OK - all 1000 checks OK\n")


def test_the_collector_folds_ok_items_and_aggregates_their_threshold_values():
    from runner.base.status import Status
    from runner.engine.items import KEEP_SMALL, ItemCollector
    from runner.language.results import Evaluation, StepResult

    def item(number: int, value: object, status: Status = Status.OK) -> StepResult:
        probe = StepResult("probe", "probe", "sql", status)
        probe.evaluations = [Evaluation("v", status, "", value=value),
                             Evaluation("up", Status.OK, "", value=1, kind="assert")]  # fmt: skip
        return StepResult("each", str(number), "item", status, children=[probe], item=number)

    collected = ItemCollector(keep_all=False)
    values = [2.5, -1, Decimal("4"), 7, "text", None, *range(100, 100 + KEEP_SMALL)]
    for number, value in enumerate(values):
        collected.add(item(number, value))
        assert len(collected.kept) == (number + 1 if number < KEEP_SMALL else 0)
    collected.add(item(99, 1000, Status.CRITICAL))
    result = StepResult("each", "each", "group")
    collected.finish(result)

    numbers = [2.5, -1, 4, 7, *range(100, 100 + KEEP_SMALL)]
    assert [child.title for child in result.children] == ["99"]
    assert result.items_summary is not None
    assert result.items_summary.counts == {"OK": len(values), "CRITICAL": 1}
    assert result.items_summary.folded == len(values)
    assert result.items_summary.ok_values == {
        "probe.v": {"count": len(numbers), "min": -1, "max": 100 + KEEP_SMALL - 1,
                    "avg": sum(numbers) / len(numbers)},
    }  # fmt: skip

    every = ItemCollector(keep_all=True)
    for number in range(KEEP_SMALL * 2):
        every.add(item(number, number))
    assert len(every.kept) == KEEP_SMALL * 2
    assert every.summary.folded == 0


def test_the_collector_keeps_bad_items_in_order_and_reads_nested_thresholds_in_order():
    from runner.base.status import Status
    from runner.engine.items import KEEP_SMALL, ItemCollector
    from runner.language.results import Evaluation, StepResult

    def item(number: int, status: Status = Status.OK) -> StepResult:
        inner = StepResult("inner", "inner", "sql", status)
        inner.evaluations = [Evaluation("v", status, "", value=number)]
        outer = StepResult("outer", "outer", "group", status, children=[inner])
        outer.evaluations = [Evaluation("w", status, "", value=2 * number)]
        return StepResult("each", str(number), "item", status, children=[outer], item=number)

    collected = ItemCollector(keep_all=False)
    bad = {3, KEEP_SMALL, KEEP_SMALL + 5}
    total = KEEP_SMALL * 2
    for number in range(total):
        collected.add(item(number, Status.CRITICAL if number in bad else Status.OK))
    result = StepResult("each", "each", "group")
    collected.finish(result)

    assert [child.item for child in result.children] == sorted(bad)
    assert result.items_summary is not None
    assert result.items_summary.folded == total - len(bad)
    assert list(result.items_summary.ok_values) == ["outer.w", "inner.v"]  # document order
    assert result.items_summary.ok_values["inner.v"]["count"] == total - len(bad)
