"""The checks of `vars:`, a runbook's (run by the checks of meaning, meaning.py) and
runner.yaml's (run as it is loaded, config.py): a var that is a template compiles and
reads only what exists as the run starts (inputs, env, now, run), since the engine
renders the vars once, before the first step. Each problem is placed at its var."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from runner.base.errors import Problem
from runner.language import templates
from runner.language.model import Origin, Runbook

#: add(origin, message, hint): how the check of meaning (meaning.py) records a problem
Add = Callable[..., None]

#: What a var's template may read: the run's own names and Jinja's globals.
_READABLE = {"inputs", "env", "now", "run", "range", "dict", "namespace", "true", "false"}
_READABLE |= {"none", "True", "False", "None", "lipsum", "cycler", "joiner"}
_INPUT_REF = re.compile(r"\binputs(?:\.([A-Za-z_][A-Za-z0-9_]*)|\[\s*['\"]([^'\"]+)['\"]\s*\])")
_CANNOT_READ = "a var is rendered once as the run starts: it may read inputs, env, now and run"


def check_vars(runbook: Runbook, add: Add) -> None:
    """Each template among the runbook's vars compiles, names only readable things and
    only inputs the runbook declares."""
    whole = runbook.keys.get("vars")
    if whole is None:
        return
    inputs = {spec.name for spec in runbook.inputs}
    for name, value in runbook.vars.items():
        origin = runbook.var_keys.get(name) or whole
        for message, hint in _problems(value, inputs):
            add(origin, message, hint)


def config_var_problems(
    variables: Mapping[str, Any], var_keys: Mapping[str, Origin], file: str
) -> list[Problem]:
    """The problems of runner.yaml's vars (`var_keys`: where each is, in `file`), as
    check_vars finds them in a runbook's; which inputs there are depends on the runbook,
    so an input is not looked for."""
    found: list[Problem] = []
    for name, value in variables.items():
        origin = var_keys.get(name) or Origin.at(file, ("vars", name), None, None)
        found += [origin.problem(message, hint) for message, hint in _problems(value, None)]
    return found


def _problems(value: Any, inputs: set[str] | None) -> Iterator[tuple[str, str]]:
    """(message, hint) of each problem of one var's templates; `inputs`: the names the
    runbook declares (None: not checked)."""
    for text in _strings(value):
        if "{{" not in text and "{%" not in text:
            continue
        error = templates.syntax_error(text)
        if error:
            yield f"template syntax error in {text!r}: {error[0]}", "check the {{ }} pairs"
            continue
        for name in sorted(templates.referenced_names(text) - _READABLE):
            yield f"{name!r} cannot be read in vars: {text!r}", _CANNOT_READ
        if inputs is None:
            continue
        for match in _INPUT_REF.finditer(text):
            ref = match.group(1) or match.group(2)
            if ref not in inputs:
                yield f"unknown input {ref!r} in vars: {text!r}", "declare it under `inputs:`"


def _strings(value: Any) -> list[str]:
    """Every string inside a var's value (mappings and lists walked)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [text for item in value.values() for text in _strings(item)]
    if isinstance(value, list | tuple):
        return [text for item in value for text in _strings(item)]
    return []
