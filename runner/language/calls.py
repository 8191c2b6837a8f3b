"""The step types that call other runbook files: `check` (a reusable check from checks/)
and `runbook` (another runbook), each given arguments with `with:`.

They are composite forms: the engine runs them by walking the called file's steps
(runner/engine/composites.py), so only their declarations live here, registered beside
the other step types. `on_failure: {runbook: NAME, with: ...}` is checked the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from runner.language.model import Origin
from runner.language.nodes import freeze
from runner.language.steptypes import StepChecks, StepConfig, StepDeclaration

if TYPE_CHECKING:
    from runner.language.nodes import Node
    from runner.language.steptypes import BuildScope, Catalog

__all__ = ["CHECK", "RUNBOOK", "Call", "CheckCall", "RunbookCall", "check_call"]

_NO_ARGUMENTS: Any = MappingProxyType({})


@dataclass(frozen=True)
class Call(StepConfig):
    """A call of a check or runbook by name, with its arguments (templates, unrendered)."""

    name: str | None  # None when the document names it with something other than text
    origin: Origin  # of the name
    with_: Any  # the `with:` arguments: a read-only mapping of plain values

    @property
    def target(self) -> str | None:
        return self.name

    @classmethod
    def read(cls, node: Node, key: str) -> Call:
        """`key: NAME` and `with:` of the mapping `node`."""
        name = node.child(key)
        arguments = node.get("with")
        return cls(
            name.value if isinstance(name.value, str) else None,
            name.origin,
            freeze(arguments) if isinstance(arguments, dict) else _NO_ARGUMENTS,
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
        return Call.read(node, self.name)

    def check(self, config: Call, checks: StepChecks) -> None:
        check_call(checks.catalog, self.name, config, checks.runbook, checks.add)


class RunbookCall(CheckCall):
    name = "runbook"
    schema = {
        "runbook": {
            "$ref": "#/$defs/name",
            "description": "Run another runbook by name, given inputs with `with:`.",
        },
        "with": {
            "type": "object",
            "description": "Arguments of the `check` or inputs of the `runbook` this step "
            "runs; values may be templates.",
        },
    }


CHECK = CheckCall()
RUNBOOK = RunbookCall()
