"""Every registered step type provides the whole step contract (runner/language/steptypes.py
and runner/steps/base.py), and survives documents the JSON Schema rejected."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from runner.language.config import Config
from runner.language.model import Origin, Step
from runner.language.nodes import Node
from runner.language.schema_gen import runbook_schema
from runner.language.steptypes import BuildScope, Deferred, StepChecks, StepDeclaration, StepTypes
from runner.language.yamlload import load_text
from runner.steps import STEP_TYPES, StepType, executor

# What a document the schema refused may hold where a step type's keys are.
ODD_VALUES: list[Any] = [None, True, 0, -1.5, "", "x", "a.sql", "{{ x", [], ["x", 1], {}, {"x": 1}]
NAMES = list(STEP_TYPES.names)


class _Catalog:
    def __init__(self, config: Config) -> None:
        self.config = config

    def path_of(self, kind: str, name: str) -> Path | None:
        return None

    def names(self, kind: str = "runbook") -> list[str]:
        return []

    def unknown_name_message(self, kind: str, name: str) -> str:
        return f"no {kind} named {name!r}"

    def call_cycle(self, me: Any, start: str) -> list[str] | None:
        return None

    def known_tags(self) -> frozenset[str] | None:
        return None


def test_the_registry_lists_the_step_types_in_the_languages_order() -> None:
    assert NAMES[:7] == ["sql", "http", "command", "check", "runbook", "notify", "wait"]


def test_every_registry_entry_loads_the_class_it_names_with_the_same_keys() -> None:
    # Loading a Deferred entry compares its keys with the class's: a drift raises here.
    assert [step_type.name for step_type in STEP_TYPES] == NAMES


def test_an_entry_whose_keys_differ_from_its_class_is_refused_when_loaded() -> None:
    types: StepTypes[StepDeclaration] = StepTypes(
        [Deferred("command", "runner.steps.command:CommandStep")]  # keys left out
    )
    assert types.options == {}  # read from the entry, nothing imported yet
    with pytest.raises(ValueError, match="its registry entry differs from CommandStep"):
        types["command"]


@pytest.mark.parametrize("name", NAMES)
def test_every_key_is_described_for_editors(name: str) -> None:
    step_type = STEP_TYPES[name]
    schema = runbook_schema(STEP_TYPES)
    properties = schema["$defs"]["step"]["properties"]
    for key in step_type.all_keys:
        fragment = properties[key]
        described = fragment.get("description")
        if described is None and "$ref" in fragment:
            described = schema["$defs"][fragment["$ref"].rsplit("/", 1)[-1]].get("description")
        assert described, f"{name}: key {key!r} has no description"
    assert name in step_type.schema, f"{name} describes its own key"
    assert set(step_type.templated) <= set(step_type.all_keys)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("value", ODD_VALUES, ids=repr)
def test_building_and_checking_never_fail_on_what_the_schema_refused(
    name: str, value: Any, tmp_path: Path
) -> None:
    step_type: StepDeclaration = STEP_TYPES[name]
    config = Config(root=tmp_path, sql_dirs=(tmp_path,))
    raw = {name: value, **{key: value for key in step_type.keys}}
    node = Node.root({"steps": [raw]}, "t.yaml").child("steps").child(0)
    built = step_type.build(node, BuildScope(config, connection=value))
    assert isinstance(step_type.default_timeout(built, 60.0), float | int)
    for key in step_type.templated:
        list(step_type.templates(key, node.child(key)))
    checks = StepChecks(node.origin, tmp_path / "t.yaml", "runbook", "t", value, _Catalog(config))
    step_type.check(built, checks)
    assert all(problem.file == "t.yaml" for problem in checks.problems)


@pytest.mark.parametrize("name", [n for n in NAMES if isinstance(STEP_TYPES[n], StepType)])
def test_every_executor_runs_describes_and_summarises(name: str) -> None:
    step_type = executor(name)
    for method in ("run", "describe"):
        assert getattr(type(step_type), method) is not getattr(StepType, method), method
    assert step_type.summary({}) is None or isinstance(step_type.summary({}), str)
    assert step_type.rendered_summary({}, "dry-run") is None
    document = load_text(f"steps:\n  - {name}: x\n", "t.yaml")
    node = Node.root(document, "t.yaml").child("steps").child(0)
    built = step_type.build(node, BuildScope(Config(root=Path.cwd())))
    step = Step(id="s", action=name, config=built, origin=Origin("t.yaml", 2, 5))
    assert step_type.verdict(step, {}) is None


def test_check_and_runbook_are_run_by_the_engine() -> None:
    for name in ("check", "runbook"):
        assert not isinstance(STEP_TYPES[name], StepType)
        with pytest.raises(KeyError, match="run by the engine"):
            executor(name)


def test_an_unknown_step_type_lists_the_known_ones() -> None:
    with pytest.raises(KeyError, match="unknown step type 'sqll'; known types: sql, http"):
        executor("sqll")
