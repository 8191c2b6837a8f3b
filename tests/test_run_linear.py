"""A run holds full collections off (runner/base/gc_pause.py) and gives the process's
thresholds back however it ends; a for_each item reads the steps before its loop
without copying them."""

from __future__ import annotations

import gc

import pytest

from runner.engine.walker import Engine

RUNBOOK = "runbook: t\nconnection: main\nsteps:\n  - {id: a, sql: SELECT 1 AS v}\n"


def test_a_run_that_raises_gives_the_threshold_back(
    project, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(Engine, "execute", failing)
    project.runbook("t", RUNBOOK)
    before = gc.get_threshold()
    with pytest.raises(KeyboardInterrupt):
        project.run("t")
    assert gc.get_threshold() == before


def test_an_item_reads_the_steps_before_its_loop_and_keeps_its_own(project) -> None:
    # Each item's `steps` reads the steps before the loop through, not as a copy per item
    # (which cost every item the length of the runbook so far).
    project.runbook(
        "t",
        """
        runbook: t
        kind: health-check
        connection: main
        steps:
          - {id: base, sql: SELECT 10 AS v}
          - id: each
            for_each: [1, 2]
            record: all
            steps:
              - {id: inner, sql: "SELECT {{ item }} + {{ steps.base.value }} AS v"}
              - id: sum
                sql: "SELECT {{ steps.inner.value }} + {{ steps.base.value }} AS v"
          - {id: after, sql: "SELECT {{ steps.base.value }} AS v"}
        """,
    )
    run = project.run("t")
    items = run.steps[1].children
    assert [[child.values["value"] for child in item.children] for item in items] == [
        [11, 21],
        [12, 22],
    ]
    assert run.steps[2].values["value"] == 10


def test_item_steps_read_through_write_apart_and_list_both() -> None:
    from runner.engine.composites import item_steps

    before = {"a": 1, "b": 2}
    steps = item_steps(before)
    before["c"] = 3  # read through, not copied
    steps["b"] = 20
    steps["d"] = 4
    assert (steps["a"], steps["b"], steps["c"], steps["d"]) == (1, 20, 3, 4)
    assert dict(steps) == {"a": 1, "b": 20, "c": 3, "d": 4} and len(steps) == 4
    assert before == {"a": 1, "b": 2, "c": 3}  # the loop's own steps are untouched
    with pytest.raises(KeyError):
        steps["nowhere"]
