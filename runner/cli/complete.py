"""Shell completion: the scripts come from the parser (argcomplete), the names from the files.

`runbook completion bash|zsh|fish` prints a script that asks `runbook` itself what to
complete; argcomplete answers from the same argparse parser that parses the command
line, so commands and options never drift from what the program accepts. Runbook names,
`--param NAME=` inputs (and the values of inputs with a choice), `--connection` names and
notification tags come from the completers below. They must answer in the time of a key
press, so they read what is cheap: the names index (the first lines of each file) and
the one runbook named on the line, parsed without being validated.

A completer never raises: a broken runner.yaml or runbook simply completes nothing.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterable, Mapping
from typing import Any

INSTALL = """\
install (once; new shells complete `runbook`):
  bash:  runbook completion bash > ~/.local/share/bash-completion/completions/runbook
  zsh:   runbook completion zsh > "${fpath[1]}/_runbook"   (or: eval "$(runbook completion zsh)")
  fish:  runbook completion fish > ~/.config/fish/completions/runbook.fish
"""


def script(shell: str) -> str:
    """The completion script of `shell` for the `runbook` command."""
    from argcomplete.shell_integration import shellcode

    return shellcode(["runbook"], shell=shell)


def answer(parser: argparse.ArgumentParser) -> None:
    """When the shell asks for completions (argcomplete's protocol), answer and exit."""
    if "_ARGCOMPLETE" not in os.environ:
        return
    import argcomplete

    argcomplete.autocomplete(parser, always_complete_options=False)


# -- completers: (prefix, parsed_args) -> candidates ---------------------------------------


def runbook_names(prefix: str, parsed_args: argparse.Namespace, **_: Any) -> list[str]:
    library = _library(parsed_args)
    if library is None:
        return []
    return [name for name in library.names("runbook") if name.startswith(prefix)]


def params(prefix: str, parsed_args: argparse.Namespace, **_: Any) -> list[str]:
    """`NAME=` for each input of the runbook on the line; after `NAME=`, its choices."""
    inputs = _inputs_of(parsed_args)
    name, equals, value = prefix.partition("=")
    if not equals:
        given = {str(item).partition("=")[0] for item in parsed_args.param or ()}
        return [f"{key}=" for key in inputs if key.startswith(prefix) and key not in given]
    spec = inputs.get(name)
    if not isinstance(spec, Mapping):
        return []
    choices: Iterable[Any] = spec.get("enum") or (
        ("true", "false") if spec.get("type") == "boolean" else ()
    )
    return [f"{name}={choice}" for choice in map(str, choices) if choice.startswith(value)]


def connection_swaps(prefix: str, parsed_args: argparse.Namespace, **_: Any) -> list[str]:
    """`NAME=` for each connection, then `NAME=OTHER` for the others."""
    library = _library(parsed_args)
    if library is None:
        return []
    names = sorted(library.config.connections)
    name, equals, other = prefix.partition("=")
    if not equals:
        return [f"{item}=" for item in names if item.startswith(prefix)]
    return [f"{name}={item}" for item in names if item != name and item.startswith(other)]


def tags(prefix: str, parsed_args: argparse.Namespace, **_: Any) -> list[str]:
    library = _library(parsed_args)
    if library is None:
        return []
    try:
        known = library.known_tags()
    except Exception:  # a broken notifications section: nothing to offer
        return []
    return sorted(tag for tag in known or () if tag.startswith(prefix))


def _library(parsed_args: argparse.Namespace) -> Any:
    from runner.language.config import load_config
    from runner.language.library import Library
    from runner.notifiers.services import known_tags
    from runner.steps import STEP_TYPES

    try:
        config = load_config(getattr(parsed_args, "config", None))
        return Library(config, STEP_TYPES, tags=known_tags)
    except Exception:  # no or broken runner.yaml: complete nothing rather than fail
        return None


def _inputs_of(parsed_args: argparse.Namespace) -> Mapping[str, Any]:
    """The `inputs:` mapping of the runbook named on the line, read without validation."""
    name = getattr(parsed_args, "name", None)
    library = _library(parsed_args)
    if not name or library is None:
        return {}
    from pathlib import Path

    from runner.language.yamlload import load_file

    path = Path(name) if Path(name).suffix in (".yaml", ".yml") else None
    if path is None or not path.is_file():
        path = library.path_of("runbook", name)
    if path is None:
        return {}
    try:
        document = load_file(path)
    except Exception:  # a file that does not parse has no inputs to offer
        return {}
    inputs = document.get("inputs") if isinstance(document, Mapping) else None
    return inputs if isinstance(inputs, Mapping) else {}
