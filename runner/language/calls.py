"""The step types that call other runbook files: `check` (a reusable check from checks/)
and `runbook` (another runbook), each given arguments with `with:`.

They are composite forms: the engine runs them by walking the called file's steps
(runner/engine/composites.py), so only their declarations live here, registered beside
the other step types. `on_failure: {runbook: NAME, with: ...}` is checked the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from runner.language.model import NOTHING, Call
from runner.language.nodes import freeze
from runner.language.steptypes import StepChecks, StepDeclaration

if TYPE_CHECKING:
    from runner.language.nodes import Node
    from runner.language.steptypes import BuildScope, Catalog

__all__ = ["CHECK", "RUNBOOK", "CheckCall", "RunbookCall", "check_call", "read_call"]


def read_call(node: Node, key: str) -> Call:
    """`key: NAME` and `with:` of the mapping `node`, as a Call."""
    name = node.child(key)
    arguments = node.get("with")
    return Call(
        name.value if isinstance(name.value, str) else None,
        name.origin,
        freeze(arguments) if isinstance(arguments, Mapping) else NOTHING,
    )


def check_call(catalog: Catalog, kind: str, call: Call, me: Any, add: Any) -> None:
    """The called check or runbook exists, and a runbook does not call itself back."""
    if call.name is None:
        return
    if catalog.path_of(kind, call.name) is None:
        add(call.origin, catalog.unknown_name_message(kind, call.name))
    elif kind == "runbook":
        cycle = catalog.call_cycle(me, call.name)
        if cycle:
            add(
                call.origin,
                "runbook call cycle: " + " -> ".join(cycle),
                "a runbook must not call itself, directly or through others",
            )


class CheckCall(StepDeclaration):
    name = "check"
    keys = ("with",)
    template_keys = ("with",)
    schema = {
        "check": {
            "$ref": "#/$defs/name",
            "description": "Run a reusable check from checks/ by name, given arguments with "
            "`with:`.",
        }
    }

    def build(self, node: Node, scope: BuildScope) -> Call:
        return read_call(node, self.name)

    def check(self, config: Call, checks: StepChecks) -> None:
        check_call(checks.catalog, self.name, config, checks.runbook, checks.add)


class RunbookCall(CheckCall):
    name = "runbook"
    schema = {
        "runbook": {
            "$ref": "#/$defs/name",
            "description": "Run another runbook by name, given inputs with `with:`. Result: "
            "status, runbook; its steps are the step's children. The called runbook's status "
            "is the step's, unless the step has asserts, which then judge it (such as "
            "`status in ('OK', 'WARNING')`).",
        },
        "with": {
            "type": "object",
            "description": "Arguments of the `check` or inputs of the `runbook` this step "
            "runs; values may be templates.",
        },
    }


CHECK = CheckCall()
RUNBOOK = RunbookCall()
