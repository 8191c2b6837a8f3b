"""A run's walk holds the cyclic collector back (runner/base/gc_pause.py): young
collections every WALK_THRESHOLD new objects instead of every 700, no full ones, and the
process's thresholds given back when the run ends, however it ends."""

from __future__ import annotations

import gc

import pytest

from runner.base.gc_pause import WALK_THRESHOLD
from runner.engine.walker import Engine

RUNBOOK = "runbook: t\nconnection: main\nsteps:\n  - {id: a, sql: SELECT 1 AS v}\n"


def test_a_run_walks_with_rare_young_collections_and_gives_the_thresholds_back(
    project, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = []
    walk = Engine.execute

    def spying(self, *args, **kwargs):
        seen.append(gc.get_threshold())
        return walk(self, *args, **kwargs)

    monkeypatch.setattr(Engine, "execute", spying)
    project.runbook("t", RUNBOOK)
    before = gc.get_threshold()
    assert str(project.run("t").status) == "OK"
    assert [threshold[:2] for threshold in seen] == [(WALK_THRESHOLD, before[1])]
    assert seen[0][2] > 10**6  # no full collection
    assert gc.get_threshold() == before


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
