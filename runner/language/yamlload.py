"""YAML loading that remembers where every key and value came from.

Mappings load as `MarkedDict` and sequences as `MarkedList`, plain `dict`/`list`
subclasses that carry 1-based (line, col) marks, so every later error can name the
file, line and column. Loading refuses what a runbook never needs and an attacker
would use: huge files, duplicate keys, and alias bombs that expand to millions of
nodes.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from runner.base.errors import InvalidInput, Problem
from runner.base.gc_pause import paused_gc
from runner.language.marks import Mark, MarkedDict, MarkedList, format_path

MAX_FILE_BYTES = 1024 * 1024
MAX_EXPANDED_NODES = 100_000
#: How deep mappings and lists may nest. A runbook's deepest real nesting is a handful
#: of groups; far deeper documents only exhaust Python's recursion in every later stage.
MAX_DEPTH = 50

if TYPE_CHECKING:  # the C loader when libyaml is there; both have SafeLoader's interface
    _Base = yaml.SafeLoader
else:
    _Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _mark(node: yaml.Node) -> Mark:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


class _ScalarError(Exception):
    """A scalar that YAML resolved to a type (by its form or a `!!tag`) but cannot read."""

    def __init__(self, node: yaml.ScalarNode, key: str, error: Exception) -> None:
        super().__init__(str(error))
        self.node, self.key = node, key
        self.message, self.hint = _scalar_problem(node, error)

    def problem(self, filename: str) -> Problem:
        line, col = _mark(self.node)
        return Problem(self.message, filename, line, col, key=self.key or None, hint=self.hint)


def _scalar_problem(node: yaml.ScalarNode, error: Exception) -> tuple[str, str]:
    """The message and hint for a scalar that could not be read as its type."""
    text = str(node.value)
    shown = repr(text if len(text) <= 40 else f"{text[:20]}...{text[-10:]}")
    kind = str(node.tag).rsplit(":", 1)[-1]
    digits = text.lstrip("+-").replace("_", "")
    if kind == "int" and digits.isdigit():
        return (
            f"the number has {len(digits):,} digits; a number must have at most "
            f"{sys.get_int_max_str_digits():,}",
            "write a smaller number, or quote it to keep it as text",
        )
    if kind == "timestamp":
        reason = str(error).split(" (")[0]
        return (
            f"{shown} is read as a date but is not a valid one: {reason}",
            f'quote it ("{text}") to keep it as text',
        )
    wanted = {"int": "a whole number", "float": "a number", "bool": "true or false"}
    return (
        f"{shown} is tagged !!{kind} but is not {wanted.get(kind, f'a valid {kind}')}",
        f"remove the !!{kind} tag, or write {wanted.get(kind, 'a valid value')}",
    )


class _Loader(_Base):
    def __init__(self, stream: str, filename: str) -> None:
        super().__init__(stream)
        self.filename = filename
        self.problems: list[Problem] = []
        self.path: list[Any] = []  # the key path of the node being constructed

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            return super().construct_object(node, deep=deep)
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, KeyError, TypeError, OverflowError) as error:
            raise _ScalarError(node, format_path(self.path), error) from None

    def construct_marked_mapping(self, node: yaml.MappingNode) -> MarkedDict:
        self.flatten_mapping(node)  # honours merge keys (<<: *anchor)
        result = MarkedDict()
        result.mark = _mark(node)
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                line, col = _mark(key_node)
                self.problems.append(
                    Problem("a mapping key must be a plain value", self.filename, line, col)
                )
                continue
            if key in result:
                line, col = _mark(key_node)
                first = result.key_marks[key][0]
                self.problems.append(
                    Problem(
                        f"duplicate key {key!r} (first defined on line {first})",
                        self.filename,
                        line,
                        col,
                        hint="keep one of them: YAML would silently use the last",
                    )
                )
                continue
            self.path.append(key)
            result[key] = self.construct_object(value_node, deep=True)
            self.path.pop()
            result.key_marks[key] = _mark(key_node)
            result.value_marks[key] = _mark(value_node)
        return result

    def construct_marked_sequence(self, node: yaml.SequenceNode) -> MarkedList:
        result = MarkedList()
        for index, child in enumerate(node.value):
            self.path.append(index)
            result.append(self.construct_object(child, deep=True))
            self.path.pop()
        result.mark = _mark(node)
        result.item_marks = [_mark(child) for child in node.value]
        return result


_Loader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _Loader.construct_marked_mapping
)
_Loader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _Loader.construct_marked_sequence
)


def _expanded_size(node: yaml.Node, memo: dict[int, int]) -> int:
    """How many nodes `node` becomes once every alias is expanded (memoised, so linear)."""
    known = memo.get(id(node))
    if known is not None:
        return known
    memo[id(node)] = 1  # a recursive alias counts once instead of looping
    size = 1
    if isinstance(node, yaml.SequenceNode):
        for child in node.value:
            size += _expanded_size(child, memo)
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            size += _expanded_size(key, memo) + _expanded_size(value, memo)
    size = min(size, MAX_EXPANDED_NODES * 10)
    memo[id(node)] = size
    return size


def _syntax_problem(error: yaml.YAMLError, filename: str, text: str) -> Problem:
    mark = getattr(error, "problem_mark", None)
    line = mark.line + 1 if mark else None
    col = mark.column + 1 if mark else None
    message = getattr(error, "problem", None) or str(error)
    context = getattr(error, "context", None)
    if context:
        message = f"{message} ({context})"
    hint = None
    source_line = text.splitlines()[line - 1] if line and line <= len(text.splitlines()) else ""
    if "\t" in message or "'\\t'" in message or (mark and "\t" in source_line[: (col or 1)]):
        message = "a tab character is used for indentation"
        hint = "YAML indentation must use spaces; replace the tab with spaces"
    else:
        hint = "check the indentation and quoting around this line"
    return Problem(f"YAML syntax error: {message}", filename, line, col, hint=hint)


def _too_deep(text: str, filename: str) -> Problem | None:
    """The first mapping or list nested deeper than MAX_DEPTH, read from the event stream
    (which does not recurse, unlike composing, constructing and every later stage)."""
    if text.count("\n") + text.count("[") + text.count("{") < MAX_DEPTH:
        return None  # too few lines and brackets to nest that deep
    depth = 0
    for event in yaml.parse(text, Loader=_Base):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                mark = event.start_mark
                return Problem(
                    f"the document nests more than {MAX_DEPTH} levels deep and was refused",
                    filename,
                    mark.line + 1 if mark else None,
                    mark.column + 1 if mark else None,
                    hint="a runbook never needs this; flatten the nesting",
                )
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
    return None


def load_text(text: str, filename: str = "<string>") -> Any:
    """Parse one YAML document into marked containers; raise InvalidInput on any problem."""
    with paused_gc():  # a few objects per node, no cycles: see runner.base.gc_pause
        return _load_text(text, filename)


def _load_text(text: str, filename: str) -> Any:
    try:
        deep = _too_deep(text, filename)
    except yaml.YAMLError as error:
        raise InvalidInput([_syntax_problem(error, filename, text)]) from None
    if deep:
        raise InvalidInput([deep])
    loader = _Loader(text, filename)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        # an alias needs an anchor (&name): without one nothing can expand
        if "&" in text and _expanded_size(node, {}) > MAX_EXPANDED_NODES:
            raise InvalidInput(
                [
                    Problem(
                        f"the document expands to more than {MAX_EXPANDED_NODES:,} values "
                        "through YAML aliases and was refused",
                        filename,
                        *_mark(node),
                        hint="a runbook never needs this; remove the nested aliases",
                    )
                ]
            )
        data = loader.construct_document(node)
    except _ScalarError as error:
        raise InvalidInput([error.problem(filename)]) from None
    except yaml.YAMLError as error:
        raise InvalidInput([_syntax_problem(error, filename, text)]) from None
    finally:
        loader.dispose()
    if loader.problems:
        raise InvalidInput(loader.problems)
    return data


def read_text(path: str | os.PathLike[str], display: str | None = None) -> str:
    """Read a YAML or SQL file, refusing files too large to be a runbook."""
    name = display or str(path)
    try:
        size = os.stat(path).st_size
    except FileNotFoundError:
        raise InvalidInput([Problem("file not found", name)]) from None
    except OSError as error:
        raise InvalidInput([Problem(f"cannot read the file: {error.strerror}", name)]) from None
    if size > MAX_FILE_BYTES:
        raise InvalidInput(
            [
                Problem(
                    f"the file is {size / 1048576:.1f} MiB; files over "
                    f"{MAX_FILE_BYTES // 1048576} MiB are refused",
                    name,
                    hint="a runbook is small: split it, or move data out of it",
                )
            ]
        )
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise InvalidInput(
            [Problem(f"the file is not UTF-8 text (byte {error.start})", name)]
        ) from None


def load_file(path: str | os.PathLike[str], display: str | None = None) -> Any:
    name = display or str(path)
    return load_text(read_text(path, name), name)
