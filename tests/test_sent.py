"""What a SQL step sent, kept with its result (engine/sent.py) and in the state store:
the statement as `--dry-run` renders it, its bound values masked and cut, kept only for
the steps a run keeps in full (a long loop's folded items keep none)."""

from __future__ import annotations

import json
import sqlite3

import pytest

from runner.base.masking import MASK, Masker
from runner.engine.sent import MAX_PARAM_TEXT, MAX_PARAMS, kept_statement

LOOP = """
runbook: loop
connection: main
steps:
  - id: each
    for_each: "{{{{ range(30) | list }}}}"
    as: n
    concurrency: {concurrency}
    on_item_error: continue
    steps:
      - id: probe
        sql: "SELECT {{{{ n }}}} AS v"
        thresholds:
          v: {{warning: 26}}
"""


def _statements(project) -> list[dict]:
    with sqlite3.connect(project.root / "var" / "runner.db") as db:
        rows = db.execute(
            "SELECT statement_json FROM step_results WHERE statement_json IS NOT NULL ORDER BY seq"
        ).fetchall()
    return [json.loads(text) for (text,) in rows]


@pytest.mark.parametrize("concurrency", [1, 3], ids=["lean-path", "general-path"])
def test_a_long_loop_keeps_the_statements_of_its_kept_items_only(project, concurrency):
    project.runbook("loop", LOOP.format(concurrency=concurrency))

    run = project.run("loop")

    (loop,) = run.steps
    kept = [item.children[0] for item in loop.children]
    assert [step.values["row"]["v"] for step in kept] == [27, 28, 29]  # the bad ones
    assert [step.statement for step in kept] == [
        {"connection": "main", "sql": "SELECT ? AS v", "params": [n], "file": None}
        for n in (27, 28, 29)
    ]
    assert loop.statement is None  # a loop sends nothing itself
    assert _statements(project) == [step.statement for step in kept]


def test_a_short_loop_keeps_every_items_statement(project):
    project.runbook("loop", LOOP.format(concurrency=1).replace("range(30)", "range(3)"))

    run = project.run("loop")

    assert [item.children[0].statement["params"] for item in run.steps[0].children] == [
        [0],
        [1],
        [2],
    ]


SECRETS = """
runbook: secrets
connection: main
inputs:
  word: {type: string, secret: true}
  pin: {type: integer, secret: true}
steps:
  - id: lookup
    sql: >-
      SELECT 1 AS n WHERE {{ inputs.pin }} > 0 AND {{ inputs.word }} <> {{ env.DB_PASSWORD }}
      AND 'word is ' || {{ inputs.word }} <> ''
"""


@pytest.mark.parametrize("mode", ["run", "rehearse"])
def test_bound_secrets_are_masked_whole_in_a_run_and_a_rehearsal(project, monkeypatch, mode):
    monkeypatch.setenv("DB_PASSWORD", "db-Kakapo8812")
    project.runbook("secrets", SECRETS)

    run = project.run("secrets", {"word": "word-Tapir2290", "pin": "55443322"}, mode=mode)

    (step,) = run.steps
    assert step.statement is not None and step.statement["params"] == [MASK] * 4
    (stored,) = _statements(project)
    assert stored == step.statement
    text = (project.root / "var" / "runner.db").read_bytes()
    for secret in (b"word-Tapir2290", b"55443322", b"db-Kakapo8812"):
        assert secret not in text


def test_a_dry_run_keeps_its_rendering_and_no_statement(project):
    project.runbook("secrets", SECRETS)

    run = project.run("secrets", {"word": "word-Tapir2290", "pin": "5"}, mode="dry-run")

    (step,) = run.steps
    assert step.statement is None and step.rendered is not None


def test_a_long_list_of_values_is_counted_and_long_texts_cut() -> None:
    masker = Masker(["hide-Okapi3141"])
    shown = {
        "connection": "main",
        "sql": "SELECT 1 WHERE id IN (" + ", ".join("?" * 120) + ")",
        "params": ["x" * 1000, "with hide-Okapi3141 inside", 3141, *range(117)],
        "file": "orders/ids.sql",
    }

    kept = kept_statement(shown, masker)

    assert len(kept["params"]) == MAX_PARAMS and kept["params_total"] == 120
    first, second, third = kept["params"][:3]
    assert first.startswith("x" * MAX_PARAM_TEXT) and first.endswith("(800 more characters)")
    assert second == f"with {MASK} inside"  # a text keeps what is not secret
    assert third == 3141  # a number that holds no secret
    assert kept["file"] == "orders/ids.sql" and kept["sql"] == shown["sql"]
    assert "params_total" not in kept_statement({**shown, "params": [1, 2]}, masker)
