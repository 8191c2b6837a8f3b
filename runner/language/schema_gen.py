"""Generates schemas/runbook.schema.json from the registered step types.

runbook.schema.base.json (beside this module) is the runbook schema without its step
types: the runbook's own keys, the keys every step may carry, and the shared `$defs`.
Two marker keys say where the step types go: `"$step types"` in the step's properties
(each step type's keys, in registry order) and `"$step type definitions"` in `$defs`;
`{step types}` in a description becomes the list of their names.

The result stays committed, because editors read it (yaml-language-server) and the
validator loads it at run time without importing any step type. tests/test_schema_gen.py
regenerates it and fails on any difference; `scripts/generate-schema` writes it.
check.schema.json holds no step keys of its own (it refers to runbook.schema.json's
`$defs`), so it is written by hand.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runner.language.steptypes import StepTypes

BASE = Path(__file__).with_name("runbook.schema.base.json")
_KEYS_MARKER = "$step types"
_DEFINITIONS_MARKER = "$step type definitions"
_NAMES_MARKER = "{step types}"
#: Marks a part of the schema that restates a check of meaning (meaning.py), so that
#: editors and check-jsonschema show it. `runbook validate` leaves those errors to the
#: check of meaning, which words them better (schema_messages.py skips them).
MEANING = "x-meaning"
#: Keys that only mean something beside `for_each`.
_FOR_EACH_KEYS = ("as", "concurrency", "on_item_error", "record")


def runbook_schema(step_types: StepTypes[Any]) -> dict[str, Any]:
    """The runbook schema with the keys and `$defs` of every step type in `step_types`."""
    base: dict[str, Any] = json.loads(BASE.read_text(encoding="utf-8"))
    base.pop("$comment", None)
    properties: dict[str, Any] = {}
    definitions: dict[str, Any] = {}
    for step_type in step_types:
        for key, fragment in step_type.schema.items():
            if key in properties:
                raise ValueError(f"step key {key!r} is described twice ({step_type.name})")
            properties[key] = fragment
        for name, fragment in step_type.definitions.items():
            if name in definitions:
                raise ValueError(f"$defs {name!r} is declared twice ({step_type.name})")
            definitions[name] = fragment
    taken = {key for step_type in step_types for key in step_type.all_keys}
    missing = sorted(taken - properties.keys())
    if missing:
        raise ValueError(f"no step type describes the key(s) {', '.join(missing)}")
    names = list(step_types.names)
    listed = ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else names[0]
    step = base["$defs"]["step"]
    step["properties"] = _splice(step["properties"], _KEYS_MARKER, properties)
    step.update(_step_rules(step_types))
    definitions["another_action"] = _ANOTHER_ACTION
    base["$defs"] = _splice(base["$defs"], _DEFINITIONS_MARKER, definitions)
    named: dict[str, Any] = _named(base, listed)
    return named


def _step_rules(step_types: StepTypes[Any]) -> dict[str, Any]:
    """What meaning.py checks of a step's keys, as JSON Schema: one action or nested steps
    (at least one: `anyOf`; at most one: each excludes the others, which costs a validator
    nothing for the keys that are absent), each step type's own options only beside it,
    the for_each options only beside for_each, and a transaction only around steps."""
    names = [*step_types.names, "steps"]
    one_thing = {
        MEANING: "the step does nothing: give it one of " + ", ".join(names[:-1]) + " or steps",
        "anyOf": [{"required": [name]} for name in names],
    }
    dependent: dict[str, Any] = {}
    for name in names:
        others = {other: {"$ref": "#/$defs/another_action"} for other in names if other != name}
        dependent[name] = {"properties": others}
    for option, owners in step_types.options.items():
        owned = [{"required": [owner]} for owner in owners]
        rule = owned[0] if len(owned) == 1 else {"anyOf": owned}
        dependent[option] = {MEANING: f"{option!r} only belongs to {' or '.join(owners)} steps"}
        dependent[option].update(rule)
    for key in _FOR_EACH_KEYS:
        dependent[key] = {MEANING: f"{key!r} only has a meaning beside for_each"}
        dependent[key]["required"] = ["for_each"]
    dependent["transaction"] = {
        MEANING: "a transaction needs nested sql steps under `steps:` (or a for_each)",
        "anyOf": [
            {"properties": {"transaction": {"const": False, "description": "No transaction."}}},
            {"required": ["steps"]},
            {"required": ["for_each"]},
        ],
    }
    return {"allOf": [one_thing], "dependentSchemas": dependent}


_ANOTHER_ACTION = {
    MEANING: "a step does exactly one thing",
    "description": "A step does exactly one thing: this key cannot be used beside the step's "
    "action (or its nested steps). Split it into one step per action.",
    "not": {},
}


def _splice(mapping: Mapping[str, Any], marker: str, inserted: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        if key == marker:
            clash = inserted.keys() & mapping.keys()
            if clash:
                raise ValueError(f"step types redefine common key(s) {', '.join(sorted(clash))}")
            out.update(inserted)
        else:
            out[key] = value
    return out


def _named(node: Any, listed: str) -> Any:
    if isinstance(node, str):
        return node.replace(_NAMES_MARKER, listed)
    if isinstance(node, list):
        return [_named(item, listed) for item in node]
    if isinstance(node, dict):
        return {key: _named(value, listed) for key, value in node.items()}
    return node


# -- the layout of the schema files ------------------------------------------------------


def render(schema: Any) -> str:
    """JSON as the schema files are laid out: one key per line, with lists of plain values
    and single-key mappings (`{"type": "string"}`, `{"$ref": ...}`) kept on one line."""
    return _render(schema, 0) + "\n"


def _scalar(value: Any) -> bool:
    return not isinstance(value, dict | list)


def _one_line(value: Any) -> bool:
    if isinstance(value, list):
        return all(_scalar(item) for item in value)
    if isinstance(value, dict):
        if len(value) != 1:
            return False
        key, item = next(iter(value.items()))
        return key != "description" and (_scalar(item) or _one_line(item))
    return True


def _render(value: Any, depth: int) -> str:
    if _scalar(value):
        return json.dumps(value, ensure_ascii=False)
    if not value or _one_line(value):
        if isinstance(value, list):
            return "[" + ", ".join(json.dumps(item, ensure_ascii=False) for item in value) + "]"
        inner = ", ".join(f"{json.dumps(k)}: {_render(v, depth)}" for k, v in value.items())
        return "{" + inner + "}"
    pad, end = "  " * (depth + 1), "  " * depth
    if isinstance(value, dict):
        items = [f"{pad}{json.dumps(k)}: {_render(v, depth + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + end + "}"
    return "[\n" + ",\n".join(pad + _render(item, depth + 1) for item in value) + "\n" + end + "]"


def write(step_types: StepTypes[Any], path: Path) -> bool:
    """Write the runbook schema to `path`; True when that changed the file."""
    text = render(runbook_schema(step_types))
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        return False
    path.write_text(text, encoding="utf-8")
    return True
