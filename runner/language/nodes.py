"""A value of a YAML document with where it came from, as the model's builders read it.

yamlload gives marked containers (`MarkedDict`, `MarkedList`) that know the line and
column of every key and value. A `Node` is one value of such a document with its key
path: it hands out its children as Nodes and says where it is as an `Origin`, without
walking from the document's root each time. Builders read Nodes and keep Origins in the
model; the raw document itself never reaches the model (`Positions`, which a step keeps
for its keys, holds the (line, col) marks of a mapping, none of its values).

A Node never assumes the document is valid: asking a string for its keys gives none,
so a builder can run on a document the JSON Schema rejected without crashing.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any

from runner.language.marks import Mark, MarkedDict, MarkedList
from runner.language.model import Origin

__all__ = ["Node", "Positions", "freeze", "plain"]


class Node:
    """One value of a (marked) YAML document, with its key path and position; compared
    by identity."""

    __slots__ = ("file", "key_mark", "mark", "path", "value")

    def __init__(
        self,
        value: Any,
        file: str,
        path: tuple[Any, ...] = (),
        mark: Mark | None = None,
        key_mark: Mark | None = None,
    ) -> None:
        self.value = value
        self.file = file
        self.path = path
        self.mark = mark  # (line, col) of the value
        self.key_mark = key_mark  # (line, col) of its key (of the item, in a list)

    @classmethod
    def root(cls, document: Any, file: str) -> Node:
        mark = getattr(document, "mark", None)
        return cls(document, file, (), mark, mark)

    def __repr__(self) -> str:
        return f"Node({self.value!r} at {self.origin})"

    # -- reading ------------------------------------------------------------------------

    @property
    def is_mapping(self) -> bool:
        return isinstance(self.value, dict)

    @property
    def is_list(self) -> bool:
        return isinstance(self.value, list)

    def __contains__(self, key: Any) -> bool:
        return isinstance(self.value, dict) and key in self.value

    def get(self, key: Any, default: Any = None) -> Any:
        """The plain value at `key` of a mapping; `default` when absent or not a mapping."""
        value = self.value
        return value.get(key, default) if isinstance(value, dict) else default

    def text(self, key: Any) -> str | None:
        """The value at `key` when it is a string, else None."""
        value = self.get(key)
        return value if isinstance(value, str) else None

    def child(self, key: Any) -> Node:
        """The Node at `key` (of a mapping) or index `key` (of a list); it must exist."""
        mark, key_mark = self._marks_of(key)
        return Node(self.value[key], self.file, (*self.path, key), mark, key_mark)

    def origin_of(self, key: Any) -> Origin:
        """Where the value at `key` (of a mapping, or index of a list) is: `child(key).origin`
        without making the child."""
        mark, key_mark = self._marks_of(key)
        return Origin.at(self.file, (*self.path, key), mark, key_mark)

    def _marks_of(self, key: Any) -> tuple[Mark | None, Mark | None]:
        """(line, col) of the value at `key` and of its key (of a list item: the item's)."""
        value = self.value
        if isinstance(value, MarkedDict):
            return value.value_marks.get(key, self.mark), value.key_marks.get(key, self.key_mark)
        if isinstance(value, MarkedList):
            mark = value.item_marks[key]
            return mark, mark
        # a plain container (a document built in code): where its nearest marked parent is
        return self.mark, self.key_mark

    def at(self, key: Any) -> Node | None:
        """The Node at `key` when this is a mapping that has it, else None."""
        value = self.value
        if isinstance(value, dict) and key in value:
            return self.child(key)
        return None

    def items(self) -> Iterator[tuple[Any, Node]]:
        """(key, Node) of a mapping, in document order; nothing for anything else."""
        if isinstance(self.value, dict):
            for key in self.value:
                yield key, self.child(key)

    def elements(self) -> Iterator[Node]:
        """The Nodes of a list, in order; nothing for anything else."""
        if isinstance(self.value, list):
            for index in range(len(self.value)):
                yield self.child(index)

    def texts_at(self, key: Any) -> Iterator[tuple[str, Origin]]:
        """`child(key).texts()`, without making the child when its value is a string."""
        item = self.value[key]
        if isinstance(item, str):
            return iter(((item, self.origin_of(key)),))
        return self.child(key).texts()

    def texts(self) -> Iterator[tuple[str, Origin]]:
        """Every string inside this value, at any depth, in document order, with where it
        is. (Builders call this for every template of every step: it makes no Nodes.)"""
        return _texts(self.value, self.file, self.path, self.mark, self.key_mark)

    # -- where ----------------------------------------------------------------------------

    @property
    def origin(self) -> Origin:
        """Where the value is (and where its key is, for messages about the key)."""
        return Origin.at(self.file, self.path, self.mark, self.key_mark)

    def positions(self) -> Positions:
        """Where each key of this mapping and its value are (nothing for anything else)."""
        value = self.value
        if isinstance(value, MarkedDict):
            return Positions(self.file, self.path, tuple(value), value.value_marks, value.key_marks)
        keys = tuple(value) if isinstance(value, dict) else ()
        return Positions(self.file, self.path, keys, None, None, self.mark, self.key_mark)


class Positions(Mapping[str, Origin]):
    """Where each key of one mapping and its value were written: key -> Origin, made when
    asked for (most are never asked for: they serve messages)."""

    __slots__ = ("_file", "_path", "_keys", "_marks", "_key_marks", "_mark", "_key_mark")

    def __init__(
        self,
        file: str,
        path: tuple[Any, ...],
        keys: tuple[Any, ...],
        marks: Mapping[Any, Mark] | None,
        key_marks: Mapping[Any, Mark] | None,
        mark: Mark | None = None,
        key_mark: Mark | None = None,
    ) -> None:
        self._file = file
        self._path = path
        self._keys = keys
        self._marks = marks  # None for a mapping made in code: its keys are at `mark`
        self._key_marks = key_marks
        self._mark = mark
        self._key_mark = key_mark

    def __getitem__(self, key: Any) -> Origin:
        if key not in self._keys:
            raise KeyError(key)
        mark, key_mark = self._mark, self._key_mark
        if self._marks is not None and self._key_marks is not None:
            mark, key_mark = self._marks.get(key), self._key_marks.get(key)
        return Origin.at(self._file, (*self._path, key), mark, key_mark)

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def __iter__(self) -> Iterator[Any]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _texts(
    value: Any, file: str, path: tuple[Any, ...], mark: Mark | None, key_mark: Mark | None
) -> Iterator[tuple[str, Origin]]:
    if isinstance(value, str):
        yield value, Origin.at(file, path, mark, key_mark)
    elif isinstance(value, dict):
        marks = getattr(value, "value_marks", None)
        key_marks = getattr(value, "key_marks", None)
        for key, item in value.items():
            if isinstance(item, str | dict | list):
                yield from _texts(
                    item,
                    file,
                    (*path, key),
                    marks.get(key, mark) if marks is not None else mark,
                    key_marks.get(key, key_mark) if key_marks is not None else key_mark,
                )
    elif isinstance(value, list):
        item_marks = getattr(value, "item_marks", None)
        for index, item in enumerate(value):
            if isinstance(item, str | dict | list):
                at = item_marks[index] if item_marks is not None else mark
                yield from _texts(
                    item, file, (*path, index), at, at if item_marks is not None else key_mark
                )


def freeze(value: Any) -> Any:
    """A read-only copy of a YAML value: mappings become read-only mappings, lists tuples.

    For values the engine renders before use (an HTTP request, `with:` arguments, a
    command's env): rendering turns them back into plain dicts and lists."""
    if type(value) in _SCALARS:
        return value
    if isinstance(value, Mapping):
        return MappingProxyType({key: freeze(item) for key, item in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(item) for item in value)
    return value


def plain(value: Any) -> Any:
    """A copy of a YAML value as plain dicts and lists, without its marks.

    For user data that reaches templates and results as it is (vars, literal for_each
    lists): Jinja filters and JSON need ordinary containers."""
    if isinstance(value, Mapping):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value
