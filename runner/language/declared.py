"""The runbook and check files of a folder, and the name each declares at its top level
(`runbook: name` or `check: name`), read cheaply: what the library's index of names
(library.py) is built from, and the files `runbook validate` and the scheduler read."""

from __future__ import annotations

import os
import re
from pathlib import Path

from runner.base.errors import InvalidInput
from runner.base.structs import Struct

# The top-level `runbook: name` (or `check:`), quoted or not, key and value.
_NAME_LINE = re.compile(r"^([\"']?)(runbook|check)\1:[ \t]*[\"']?([A-Za-z0-9._-]+)", re.M)
SUFFIXES = (".yaml", ".yml")


def yaml_files(folder: Path) -> list[Path]:
    """The YAML files under `folder` (or `folder` itself when it is a file), in the order
    of their paths; symlinked folders are not entered, symlinked files are listed.

    Walked with os.scandir, whose entries know a plain file from a folder without a
    stat: Path.rglob and a stat per file (is_file) were a tenth of a warm `runbook list`
    of 1,000 runbooks."""
    if folder.is_file():
        return [folder]
    found: list[tuple[tuple[str, ...], Path]] = []
    _walk(folder, (), found)
    return [path for _, path in sorted(found, key=lambda item: item[0])]


def _walk(folder: Path, parts: tuple[str, ...], found: list[tuple[tuple[str, ...], Path]]) -> None:
    try:
        with os.scandir(folder) as listing:
            entries = list(listing)
    except OSError:  # gone, not a folder, or not readable: nothing listed, as rglob
        return
    for entry in entries:
        named = (*parts, os.path.normcase(entry.name))  # sorted as paths sort
        if os.path.splitext(entry.name)[1] in SUFFIXES and entry.is_file():
            found.append((named, folder / entry.name))
        elif entry.is_dir(follow_symlinks=False):
            _walk(folder / entry.name, named, found)


class Declared(Struct, frozen=True):
    """The name a file declares at its top level, and on which line."""

    kind: str  # "runbook" or "check"
    name: str
    line: int


def declared_name(path: Path) -> Declared | None:
    """The file's top-level `runbook:` or `check:` name, read cheaply.

    A regular expression over the first 64 KiB finds it in nearly every file (a BOM is
    skipped, a quoted key is read). When it finds nothing, the file is parsed as YAML, so
    a flow mapping (`{runbook: x, steps: [...]}`) or a key written otherwise is found too:
    a file that validates is found by its name."""
    try:
        with open(path, encoding="utf-8-sig") as handle:
            head = handle.read(65536)
    except (OSError, UnicodeDecodeError):
        return None
    match = _NAME_LINE.search(head)
    if match:
        return Declared(match.group(2), match.group(3), head.count("\n", 0, match.start()) + 1)
    return _parsed_name(path)


def _parsed_name(path: Path) -> Declared | None:
    from runner.language.marks import MarkedDict
    from runner.language.yamlload import load_file

    try:
        document = load_file(path)
    except InvalidInput:
        return None
    if not isinstance(document, MarkedDict):
        return None
    for kind in ("runbook", "check"):
        name = document.get(kind)
        if isinstance(name, str) and name:
            return Declared(kind, name, document.key_marks.get(kind, (1, 1))[0])
    return None
