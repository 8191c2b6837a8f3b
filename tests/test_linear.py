"""Validation does a fixed amount of work per step, whatever the runbook's length.

No timings here (bench/linear.py measures them): these pin the operations that made
`validate` quadratic, by counting them, and the behaviour the faster paths must keep.
"""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from runner.base.errors import InvalidInput
from runner.base.gc_pause import paused_gc
from runner.language.yamlload import load_text


def _inline_runbook(steps: int, bad: tuple[int, ...] = (), name: str = "t") -> str:
    lines = [f"runbook: {name}", "connection: main", "steps:"]
    for index in range(steps):
        sql = "SELEC 1 AS v" if index in bad else "SELECT 1 AS v"
        lines += [f"  - id: s{index}", f"    sql: {sql}"]
    return "\n".join(lines) + "\n"


def _library(project):
    """The project's library checking SQL, as `runbook validate` does."""
    from runner.language.library import Library
    from runner.steps import STEP_TYPES

    return Library(project.library().config, STEP_TYPES, check_sql=True)


def _reads_of(project, path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[int, list[str]]:
    """How often validating `path` reads it, and the problems found."""
    reads = []
    original = Path.read_text

    def counting(self: Path, *args, **kwargs):
        if self.resolve() == path.resolve():
            reads.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", counting)
    found = _library(project).problems(path)
    return len(reads), [p.format().replace(str(project.root), "{root}") for p in found]


def test_the_runbook_file_is_read_as_often_for_50_inline_sql_steps_as_for_2(
    project, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each inline SQL step used to read and split the whole file to place its SQL
    # errors: N reads of an N-step file.
    few = project.runbook("few", _inline_runbook(2, name="few"))
    many = project.runbook("many", _inline_runbook(50, name="many"))
    few_reads, few_problems = _reads_of(project, few, monkeypatch)
    many_reads, many_problems = _reads_of(project, many, monkeypatch)
    assert few_problems == [] and many_problems == []
    assert many_reads == few_reads <= 2  # parse it, then the lines for SQL positions


def test_inline_sql_errors_of_many_steps_each_name_their_own_line(project) -> None:
    # The file's lines are read once and shared: every step still gets its own position.
    path = project.runbook("t", _inline_runbook(40, bad=(3, 37)))
    found = sorted(_library(project).problems(path), key=lambda p: p.line or 0)
    # step i's `sql:` is on line 5 + 2i; the error is at the same column in both
    assert [(p.line, p.col, p.key) for p in found] == [
        (11, 16, "steps[3].sql"),
        (79, 16, "steps[37].sql"),
    ]


REFERENCES = """\
runbook: t
connection: main
steps:
  - id: first
    sql: SELECT 1
  - id: group
    when: steps.first.value == 1 and steps.inner.value == 1
    steps:
      - id: inner
        sql: SELECT {{ steps.first.value }}
      - id: second
        sql: SELECT {{ steps.inner.value }}
  - id: uses_later
    sql: SELECT {{ steps.last.value }}, {{ steps.second.value }}, {{ steps.uses_later.value }}
  - id: first
    sql: SELECT {{ steps.last.value }}
  - id: last
    sql: SELECT {{ steps.nowhere.value }}
"""


def test_step_references_are_placed_by_position(project) -> None:
    """A step reads steps above it, itself and its nested steps; not the steps below it.
    A duplicate id counts where it is first used."""
    path = project.runbook("t", REFERENCES)
    found = sorted(project.library().problems(path), key=lambda p: (p.line or 0, p.col or 0))
    assert [(p.line, p.message) for p in found] == [
        (14, "step 'last' is used before it runs"),
        (15, "duplicate step id 'first' (first used on line 4)"),
        (16, "step 'last' is used before it runs"),
        (18, "no step with id 'nowhere'"),
    ]


def test_loading_yaml_pauses_the_collector_and_gives_it_back(project) -> None:
    assert gc.isenabled()
    assert load_text("a: [1, 2]\n") == {"a": [1, 2]}
    assert gc.isenabled()
    with pytest.raises(InvalidInput):
        load_text("a: [1, 2\n")
    assert gc.isenabled()  # also after an error


def test_a_pause_inside_a_pause_leaves_the_collector_off_until_the_outer_ends() -> None:
    try:
        with paused_gc():
            with paused_gc():
                assert not gc.isenabled()
            assert not gc.isenabled()
        assert gc.isenabled()
        gc.disable()  # a caller that turned it off keeps it off
        with paused_gc():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def _origins_alive() -> int:
    """Origins alive: every step of a model has some. (Steps are never tracked, so
    gc.get_objects does not list them.)"""
    from runner.language.model import Origin

    return sum(1 for item in gc.get_objects() if isinstance(item, Origin))


def test_validating_a_file_leaves_nothing_for_the_cyclic_collector(project) -> None:
    # A reference cycle (a recursive closure listing the steps) kept the whole model
    # alive after validation, so the collector walked every object of it: 10-18% of
    # validating 10,000 steps. Reference counting alone must free the model.
    path = project.runbook("freed", _inline_runbook(20, bad=(3,), name="freed"))
    library = _library(project)
    gc.collect()
    gc.disable()
    try:
        before = _origins_alive()
        found = library.problems(path)
        after = _origins_alive()
    finally:
        gc.enable()
    assert [p.line for p in found if p.severity == "error"] == [11]
    assert after == before
    assert gc.isenabled()


def _collections_during(action) -> tuple[int, set[tuple[int, int, int]]]:
    """How many full (generation-2) collections start while `action()` runs, and the
    collector's thresholds at each collection then, with them set so low that collections
    come every few steps."""
    full = []
    seen = set()

    def count(phase: str, info: dict) -> None:
        if phase == "start":
            seen.add(gc.get_threshold())
            if info["generation"] == 2:
                full.append(1)

    thresholds = gc.get_threshold()
    gc.collect()
    gc.set_threshold(50, 2, 2)
    gc.callbacks.append(count)
    try:
        action()
        assert gc.get_threshold() == (50, 2, 2)  # put back as the run found them
    finally:
        gc.callbacks.remove(count)
        gc.set_threshold(*thresholds)
    return len(full), seen


def test_a_run_meets_no_full_collection_whatever_its_length(project) -> None:
    # A full collection walks every tracked object: the model and every result so far.
    # The one or two a 10,000-step run met, where a 1,000-step one met none, made its
    # per-step cost 1.2-1.4x (bench/linear.py). A run holds them off; young collections
    # go on (runner.base.gc_pause.young_collections_only).
    from runner.base.gc_pause import _NEVER
    from runner.service.runs import RunRequest

    lines = ["runbook: t", "connection: main", "steps:"]
    lines += [
        f"  - {{id: s{i}, sql: SELECT 1 AS v, thresholds: {{v: {{critical: 2}}}}}}"
        for i in range(2000)
    ]
    project.runbook("t", "\n".join(lines) + "\n")
    runbook = project.library().runbook("t")
    service = project.service(record=False)

    def run() -> None:
        done = service.run(RunRequest("t"), runbook=runbook)
        assert len(done.steps) == 2000 and str(done.status) == "OK"

    full, thresholds = _collections_during(run)
    assert full == 0
    assert (50, 2, _NEVER) in thresholds  # young collections went on, under the hold


def test_holds_that_never_all_end_still_collect_in_full_every_so_often(monkeypatch) -> None:
    # A busy scheduler: some run always goes on, so the thresholds are never put back;
    # a run that ends collects in full itself when the last full collection is
    # FULL_AT_LEAST_EVERY seconds ago, so cyclic garbage in the oldest generation is freed.
    from runner.base import gc_pause

    now = [1000.0]
    monkeypatch.setattr(gc_pause, "monotonic", lambda: now[0])
    full = []

    def count(phase: str, info: dict) -> None:
        if phase == "start" and info["generation"] == 2:
            full.append(now[0])

    gc.callbacks.append(count)
    try:
        always = gc_pause.young_collections_only()
        always.__enter__()
        with gc_pause.young_collections_only():
            now[0] += gc_pause.FULL_AT_LEAST_EVERY - 1
        assert full == []  # not yet
        with gc_pause.young_collections_only():
            now[0] += 2
        assert full == [1000.0 + gc_pause.FULL_AT_LEAST_EVERY + 1]
        with gc_pause.young_collections_only():
            now[0] += 1
        assert len(full) == 1  # the clock starts again from that one
        always.__exit__(None, None, None)
    finally:
        gc.callbacks.remove(count)


def test_overlapping_holds_put_the_thresholds_back_when_the_last_ends() -> None:
    from runner.base.gc_pause import young_collections_only

    thresholds = gc.get_threshold()
    first, second = young_collections_only(), young_collections_only()
    first.__enter__()
    assert gc.get_threshold()[:2] == thresholds[:2] and gc.get_threshold()[2] > 10**6
    second.__enter__()
    first.__exit__(None, None, None)  # runs of a scheduler end in any order
    assert gc.get_threshold()[2] > 10**6
    second.__exit__(None, None, None)
    assert gc.get_threshold() == thresholds


def test_a_recorded_run_is_freed_without_the_cyclic_collector(project) -> None:
    # The recursive closures listing a run's steps for the state store and masking them
    # were reference cycles holding the RunResult and the run's Masker (and the one of
    # Runbook.all_steps a list of the model's steps): every recorded
    # run stayed alive until a full collection, which walked it (a gc.freeze() around
    # runs leaked them). Reference counting alone must free a recorded run.
    from runner.base.masking import Masker
    from runner.language.results import RunResult

    project.runbook(
        "t",
        "runbook: t\nconnection: main\nsteps:\n"
        "  - {id: a, sql: SELECT 1 AS v}\n"
        "  - {id: b, sql: SELECT 2 AS v}\n",
    )
    project.run("t")  # the first run creates the state store
    gc.collect()
    with paused_gc():
        run = project.run("t")
        assert str(run.status) == "OK" and len(run.steps) == 2
        del run
        alive = [type(item).__name__ for item in gc.get_objects()]
        cyclic = gc.collect()  # what only the collector frees (Runbook.all_steps held the model)
    assert alive.count(RunResult.__name__) == 0
    assert alive.count(Masker.__name__) == 0
    assert cyclic == 0
