"""The model built from YAML holds no raw YAML: typed, frozen values that know where they
were written, built in one pass that validate and run share."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from runner.base.structs import Struct
from runner.language.build import build
from runner.language.config import Config
from runner.language.model import Origin, Runbook
from runner.language.nodes import Positions
from runner.language.yamlload import MarkedDict, MarkedList, load_file
from runner.steps import STEP_TYPES

FIXTURES = Path(__file__).parent / "fixtures" / "schema" / "valid"
REPO = Path(__file__).resolve().parent.parent


def values(value: Any, where: str = "") -> Iterator[tuple[str, Any]]:
    """Every value reachable from `value`, with a path that says where it is."""
    yield where, value
    if isinstance(value, Origin | Positions):
        return  # where things are, not what they are
    if isinstance(value, Struct):
        for field in value.__struct_fields__:
            yield from values(getattr(value, field), f"{where}.{field}")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from values(item, f"{where}[{key!r}]")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from values(item, f"{where}[{index}]")


def full_runbook() -> Runbook:
    document = load_file(FIXTURES / "full.runbook.yaml", "full.runbook.yaml")
    return build(document, "full.runbook.yaml", Config(root=REPO), STEP_TYPES).runbook


@pytest.mark.parametrize(
    "path",
    sorted((FIXTURES.parent / "invalid").glob("*.yaml")) + [FIXTURES / "full.runbook.yaml"],
    ids=lambda path: path.name,
)
def test_no_raw_yaml_reaches_the_model(path: Path) -> None:
    # documents the schema rejected included: they are built (and checked) too
    document = load_file(path, path.name)
    if not isinstance(document, dict) or path.name.startswith("runner"):
        return
    model = build(document, path.name, Config(root=REPO), STEP_TYPES).runbook
    marked = [where for where, value in values(model) if isinstance(value, MarkedDict | MarkedList)]
    assert marked == []


def test_the_models_own_mappings_are_read_only() -> None:
    # User data inside them (vars, literal for_each items, input defaults) stays plain, as
    # templates and JSON want it; the model's own fields are never a dict or a list.
    runbook = full_runbook()
    for step in runbook.all_steps():
        for field in step.__struct_fields__:
            assert not isinstance(getattr(step, field), dict | list), field
        for where, value in values(step.config, step.id):
            assert not isinstance(value, dict | list), where
    for field in runbook.__struct_fields__:
        assert not isinstance(getattr(runbook, field), dict | list), field
    with pytest.raises(TypeError):
        runbook.vars["x"] = 1  # type: ignore[index]
    with pytest.raises(AttributeError):
        runbook.steps[0].id = "other"  # type: ignore[misc]


def test_every_value_a_check_reports_on_knows_where_it_was_written() -> None:
    runbook = full_runbook()
    pending = runbook.steps[0]
    assert str(pending.origin) == "full.runbook.yaml:38:5: steps[0]"
    assert str(pending.keys["thresholds"]) == "full.runbook.yaml:46:7: steps[0].thresholds"
    assert pending.keys["thresholds"].key_line == 45  # where `thresholds:` itself is
    assert str(pending.thresholds[0].warning_origin) == (
        "full.runbook.yaml:46:32: steps[0].thresholds.pending_count.warning"
    )
    assert [(str(text.origin), text.text) for text in pending.templates] == [
        (
            "full.runbook.yaml:47:33: steps[0].thresholds.oldest_minutes.warning",
            "{{ inputs.stale_minutes }}",
        ),
        ("full.runbook.yaml:48:60: steps[0].thresholds.free_ratio.value", "row.free / row.total"),
        ("full.runbook.yaml:39:12: steps[0].title", "Pending orders"),
        (
            "full.runbook.yaml:49:11: steps[0].hint",
            "If orders are stuck, check that order-processing ran in the last hour.",
        ),
    ]
    assert runbook.notify is not None
    assert str(runbook.notify.origins["repeat"]) == "full.runbook.yaml:31:11: notify.repeat"


def test_validate_and_run_read_a_file_once(project, monkeypatch) -> None:
    from runner.language import library as library_module

    path = project.runbook(
        "t", "runbook: t\nconnection: main\nsteps:\n  - runbook: u\n  - sql: SELECT 1\n"
    )
    project.runbook("u", "runbook: u\nsteps:\n  - wait: 0s\n")
    reads: list[Path] = []
    original = library_module._read

    def counted(path: Path, config: Config, step_types: Any) -> Any:
        reads.append(path.name)
        return original(path, config, step_types)

    monkeypatch.setattr(library_module, "_read", counted)
    library = project.library()
    assert library.problems(path) == []
    runbook = library.load(path)
    assert runbook.calls() == ["u"]
    # validate read t and (for the call cycle check) u; loading t read it once more, and
    # its check of meaning found u already read
    assert reads == ["t.yaml", "u.yaml", "t.yaml"]


def test_values_of_another_type_are_frozen_as_written() -> None:
    """What the schema refuses still builds, and nothing of the document leaks through."""
    odd = "{a: [1, {b: 2}]}"
    keys = ["when", "until", "title", "hint", "confirm", "on_error", "as", "connection"]
    lines = ["runbook: t", f"title: {odd}", f"vars: {odd}", f"tags: [{odd}]", "steps:"]
    for name in STEP_TYPES.names:
        step = STEP_TYPES[name]
        lines.append(f"  - {name}: {odd}")
        lines += [f"    {key}: {odd}" for key in (*step.keys, *keys)]
        lines.append(f"    thresholds: {{n: {{warning: {odd}}}}}")
    document = load_file_text("\n".join(lines) + "\n")
    model = build(document, "t.yaml", Config(root=REPO), STEP_TYPES).runbook
    marked = [where for where, value in values(model) if isinstance(value, MarkedDict | MarkedList)]
    assert marked == []


def load_file_text(text: str) -> Any:
    from runner.language.yamlload import load_text

    return load_text(text, "t.yaml")
