"""YAML loading that remembers where every key and value came from.

Mappings load as `MarkedDict` and sequences as `MarkedList`, plain `dict`/`list`
subclasses that carry 1-based (line, col) marks, so every later error can name the
file, line and column. Loading refuses what a runbook never needs and an attacker
would use: huge files, duplicate keys, and alias bombs that expand to millions of
nodes.
"""

from __future__ import annotations

import operator
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from runner.base.errors import InvalidInput, Problem
from runner.base.gc_pause import paused_gc
from runner.language.marks import Mark, MarkedDict, MarkedList, format_path
from runner.language.yamlguards import (
    BOUNDED,
    MAX_DEPTH,
    MAX_EXPANDED_NODES,
    deeper_than,
    depth_problem,
    expanded_depth,
    expanded_size,
    too_deep,
)

MAX_FILE_BYTES = 1024 * 1024

if TYPE_CHECKING:  # the C loader when libyaml is there; both have SafeLoader's interface
    _Base = yaml.SafeLoader
else:
    _Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


_SCALAR = yaml.ScalarNode
_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_SHORT_INT = 19  # digits that never reach Python's limit on int("...")
_JSON_SCALARS = frozenset({str, int, bool, type(None)})
_MAP = yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG
_SEQ = yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG
#: plain scalar text -> its resolved tag, shared by every file a process loads (keys,
#: ids and most values recur from file to file): texts of at most _MAX_TAG_TEXT
#: characters, emptied when it holds _MAX_TAGS, so it stays under a few megabytes.
_TAGS: dict[str, str] = {}
_MAX_TAGS = 16384
_MAX_TAG_TEXT = 200


def _json_scalar(value: Any) -> bool:
    """Whether a scalar is one JSON has: null, a boolean, a whole or a finite number."""
    kind = type(value)
    return kind in _JSON_SCALARS or (kind is float and value - value == 0)


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
    # PyYAML's composer calls these two around every node, for path resolvers (which
    # this loader has none of). Builtins that do nothing in their place take a fifth off
    # composing in C, where the Python methods cost two calls per node. A builtin on a
    # class is not bound to the instance: it is handed the composer's arguments as they
    # are, (parent, index) and (), and what it returns is ignored.
    descend_resolver = operator.is_  # type: ignore[assignment]
    ascend_resolver = tuple  # type: ignore[assignment]

    def __init__(self, stream: str, filename: str) -> None:
        super().__init__(stream)
        self.filename = filename
        self.problems: list[Problem] = []
        self.path: list[Any] = []  # the key path of the node being constructed
        self._shared = "&" in stream  # anchors: a node may be reached twice
        self._merges = "<<" in stream or "merge" in stream  # merge keys (<<: or !!merge)
        #: whether every value is one JSON has (see MarkedDict.json_shaped)
        self.json_shaped = True

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        """The tag of a node; of a plain scalar (most of a runbook: keys, ids, SQL) it
        depends on its text alone (this loader adds no resolvers), so each text is
        resolved once per process."""
        if kind is yaml.ScalarNode and implicit[0]:
            tag = _TAGS.get(value)
            if tag is None:
                tag = super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]
                if len(value) <= _MAX_TAG_TEXT:
                    if len(_TAGS) >= _MAX_TAGS:
                        _TAGS.clear()
                    _TAGS[value] = tag
            return tag
        if kind is yaml.MappingNode:  # a mapping's or list's tag is the default one
            return _MAP
        if kind is yaml.SequenceNode:
            return _SEQ
        return super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]

    def construct_marked(self, node: yaml.Node) -> Any:
        """The document of `node`, as construct_document makes it, with the nesting
        depth checked on the way down: one walk, no event pass before it."""
        try:
            return self._build(node, 1)
        finally:
            self.constructed_objects = {}
            self.recursive_objects = {}

    def _build(self, node: yaml.Node, depth: int) -> Any:
        """One node: plain text, whole numbers, mappings and lists of the default tags here
        (the bulk of a runbook), anything else through PyYAML's constructors."""
        kind = node.__class__
        if kind is _SCALAR:
            tag = node.tag
            if tag == _STR:
                return node.value
            if tag == _INT:
                value = node.value
                # plain decimal digits, as PyYAML reads them (not 0-led: YAML 1.1 octal)
                if value.isdecimal() and value[0] != "0" and len(value) < _SHORT_INT:
                    return int(value)
            scalar = self.construct_object(node, deep=True)
            if not _json_scalar(scalar):
                self.json_shaped = False
            return scalar
        if depth > MAX_DEPTH:
            raise InvalidInput([depth_problem(node.start_mark, self.filename)])
        if node.tag not in (_MAP, _SEQ):  # !!omap, !!set, unknown tags: PyYAML decides
            deep = deeper_than(node, MAX_DEPTH - depth, set())
            if deep is not None:
                raise InvalidInput([depth_problem(deep.start_mark, self.filename)])
            self.json_shaped = False
            return self.construct_object(node, deep=True)
        if self._shared:
            known = self.constructed_objects.get(node)
            if known is not None:
                return known
            if node in self.recursive_objects:
                raise yaml.constructor.ConstructorError(
                    None, None, "found unconstructable recursive node", node.start_mark
                )
            self.recursive_objects[node] = None
            built = self._collection(node, depth)
            self.constructed_objects[node] = built
            del self.recursive_objects[node]
            return built
        return self._collection(node, depth)

    def _collection(self, node: yaml.Node, depth: int) -> MarkedDict | MarkedList:
        """A mapping or list and its marks. A child that is plain text (most of them) is
        taken here; any other goes through _build with its key on `path` (for messages)."""
        path = self.path
        start = node.start_mark
        deeper = depth + 1
        if node.tag == _SEQ:
            items = MarkedList()
            items.mark = (start.line + 1, start.column + 1)
            marks = items.item_marks
            for index, child in enumerate(node.value):
                mark = child.start_mark
                marks.append((mark.line + 1, mark.column + 1))
                if child.__class__ is _SCALAR and child.tag == _STR:
                    items.append(child.value)
                else:
                    path.append(index)
                    items.append(self._build(child, deeper))
                    path.pop()
            return items
        assert isinstance(node, yaml.MappingNode)
        if self._merges:
            self.flatten_mapping(node)  # honours merge keys (<<: *anchor)
        result = MarkedDict()
        result.mark = (start.line + 1, start.column + 1)
        key_marks, value_marks = result.key_marks, result.value_marks
        for key_node, value_node in node.value:
            if key_node.__class__ is _SCALAR and key_node.tag == _STR:
                key = key_node.value
            else:
                key = self._build(key_node, deeper)
                self.json_shaped = False  # JSON keys are strings
                try:
                    hash(key)
                except TypeError:
                    line, col = _mark(key_node)
                    self.problems.append(
                        Problem("a mapping key must be a plain value", self.filename, line, col)
                    )
                    continue
            if key in result:
                self._duplicate(key_node, key, key_marks)
                continue
            if value_node.__class__ is _SCALAR and value_node.tag == _STR:
                result[key] = value_node.value
            else:
                path.append(key)
                result[key] = self._build(value_node, deeper)
                path.pop()
            mark = key_node.start_mark
            key_marks[key] = (mark.line + 1, mark.column + 1)
            mark = value_node.start_mark
            value_marks[key] = (mark.line + 1, mark.column + 1)
        return result

    def _duplicate(self, key_node: yaml.Node, key: Any, key_marks: dict[Any, Mark]) -> None:
        line, col = _mark(key_node)
        self.problems.append(
            Problem(
                f"duplicate key {key!r} (first defined on line {key_marks[key][0]})",
                self.filename,
                line,
                col,
                hint="keep one of them: YAML would silently use the last",
            )
        )

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
                self._duplicate(key_node, key, result.key_marks)
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


def load_text(text: str, filename: str = "<string>") -> Any:
    """Parse one YAML document into marked containers; raise InvalidInput on any problem.

    Nesting deeper than MAX_DEPTH is refused before anything recurses that deep: with
    libyaml 0.2.5 or later, composing stops at 1,000 levels in C and constructing checks
    the depth on its way down; otherwise a pass over the event stream checks it first."""
    with paused_gc():  # a few objects per node, no cycles: see runner.base.gc_pause
        return _load_text(text, filename)


def _syntax_or_depth(error: yaml.YAMLError, filename: str, text: str) -> InvalidInput:
    """A document that does not compose: too deep (libyaml stops at 1,000 levels; the
    event pass finds the first level past MAX_DEPTH) or a syntax error."""
    try:
        deep = too_deep(text, filename)
    except yaml.YAMLError:
        deep = None
    if deep is None and "maximum nesting depth" in str(getattr(error, "problem", "")):
        deep = depth_problem(getattr(error, "problem_mark", None), filename)  # past 1,000
    return InvalidInput([deep or _syntax_problem(error, filename, text)])


def _load_text(text: str, filename: str) -> Any:
    if not BOUNDED:
        try:
            deep = too_deep(text, filename)
        except yaml.YAMLError as error:
            raise InvalidInput([_syntax_problem(error, filename, text)]) from None
        if deep:
            raise InvalidInput([deep])
    loader = _Loader(text, filename)
    try:
        try:
            node = loader.get_single_node()
        except yaml.YAMLError as error:
            raise _syntax_or_depth(error, filename, text) from None
        if node is None:
            return None
        # an alias needs an anchor (&name): without one nothing can expand
        if "&" in text:
            deep_node = deeper_than(node, MAX_DEPTH - 1, set())  # before recursing on it
            if deep_node is not None:
                raise InvalidInput([depth_problem(deep_node.start_mark, filename)])
            if expanded_depth(node, {}) > MAX_DEPTH:  # anchors nested in anchors
                raise InvalidInput(
                    [
                        Problem(
                            f"the document nests more than {MAX_DEPTH} levels deep through "
                            "YAML aliases and was refused",
                            filename,
                            *_mark(node),
                            hint="a runbook never needs this; remove the nested aliases",
                        )
                    ]
                )
            if expanded_size(node, {}) > MAX_EXPANDED_NODES:
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
        data = loader.construct_marked(node)
        if isinstance(data, MarkedDict | MarkedList):
            data.json_shaped = loader.json_shaped
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
