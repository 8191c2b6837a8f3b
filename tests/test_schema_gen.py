"""schemas/runbook.schema.json is generated from the registered step types."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pytest

from runner.language.calls import CHECK, RUNBOOK
from runner.language.schema_gen import render, runbook_schema
from runner.language.steptypes import StepTypes
from runner.steps import STEP_TYPES
from runner.steps.wait import WaitStep

REPO = Path(__file__).resolve().parent.parent
SCHEMA = REPO / "schemas" / "runbook.schema.json"


def test_the_committed_schema_is_the_generated_one() -> None:
    # On a difference: run scripts/generate-schema and commit schemas/runbook.schema.json.
    assert render(runbook_schema(STEP_TYPES)) == SCHEMA.read_text(encoding="utf-8")


def test_every_step_type_key_is_a_property_of_a_step_in_registry_order() -> None:
    step = runbook_schema(STEP_TYPES)["$defs"]["step"]
    properties = list(step["properties"])
    keys = [key for step_type in STEP_TYPES for key in step_type.schema]
    start = properties.index(keys[0])
    assert properties[start : start + len(keys)] == keys
    assert step["additionalProperties"] is False


def test_the_step_types_are_named_in_the_descriptions() -> None:
    schema = runbook_schema(StepTypes([CHECK, RUNBOOK]))
    assert schema["$defs"]["step"]["description"].startswith(
        "One step. It does exactly one thing: check or runbook;"
    )
    assert "{step types}" not in render(schema)


def test_a_key_no_step_type_describes_is_refused() -> None:
    class Sleep(WaitStep):
        name = "sleep"
        schema: ClassVar = {}

    with pytest.raises(ValueError, match="no step type describes the key"):
        runbook_schema(StepTypes([Sleep()]))


def test_a_key_described_twice_is_refused() -> None:
    class Pause(WaitStep):
        keys = ("wait",)
        name = "pause"
        schema: ClassVar = {"pause": {"type": "string"}, "wait": {"type": "string"}}

    with pytest.raises(ValueError, match="step key 'wait' is described twice"):
        runbook_schema(StepTypes([WaitStep(), Pause()]))


def test_a_step_type_may_not_take_a_key_every_step_has() -> None:
    class Timeout(WaitStep):
        name = "timeout"
        schema: ClassVar = {"timeout": {"type": "string"}}

    with pytest.raises(ValueError, match="redefine common key"):
        runbook_schema(StepTypes([Timeout()]))


def test_render_keeps_short_values_on_one_line() -> None:
    assert render({"a": {"type": "string"}, "b": ["x", 1], "c": {"description": "d"}}) == (
        '{\n  "a": {"type": "string"},\n  "b": ["x", 1],\n  "c": {\n    "description": "d"\n  }\n}\n'
    )
