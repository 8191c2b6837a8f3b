"""The checks of a runbook's `vars:`, run by the checks of meaning (meaning.py): a var
that is a template compiles and reads only what exists as the run starts (inputs, env,
now, run), since the engine renders the vars once, before the first step."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from runner.language import templates
from runner.language.model import Runbook

#: add(origin, message, hint): how the check of meaning (meaning.py) records a problem
Add = Callable[..., None]

#: What a var's template may read: the run's own names and Jinja's globals.
_READABLE = {"inputs", "env", "now", "run", "range", "dict", "namespace", "true", "false"}
_READABLE |= {"none", "True", "False", "None", "lipsum", "cycler", "joiner"}
_INPUT_REF = re.compile(r"\binputs(?:\.([A-Za-z_][A-Za-z0-9_]*)|\[\s*['\"]([^'\"]+)['\"]\s*\])")


def check_vars(runbook: Runbook, add: Add) -> None:
    """Each template among the runbook's vars compiles and names only readable things."""
    origin = runbook.keys.get("vars")
    if origin is None:
        return
    inputs = {spec.name for spec in runbook.inputs}
    for text in _strings(runbook.vars):
        if "{{" not in text and "{%" not in text:
            continue
        error = templates.syntax_error(text)
        if error:
            add(origin, f"template syntax error in {text!r}: {error[0]}", "check the {{ }} pairs")
            continue
        for name in sorted(templates.referenced_names(text) - _READABLE):
            add(
                origin,
                f"{name!r} cannot be read in vars: {text!r}",
                "a var is rendered once as the run starts: it may read inputs, env, now and run",
            )
        for match in _INPUT_REF.finditer(text):
            ref = match.group(1) or match.group(2)
            if ref not in inputs:
                message = f"unknown input {ref!r} in vars: {text!r}"
                add(origin, message, "declare it under `inputs:`")


def _strings(value: Any) -> list[str]:
    """Every string inside a var's value (mappings and lists walked)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [text for item in value.values() for text in _strings(item)]
    if isinstance(value, list | tuple):
        return [text for item in value for text in _strings(item)]
    return []
