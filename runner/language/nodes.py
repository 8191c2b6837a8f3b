"""A value of a YAML document with where it came from, as the model's builders read it.

yamlload gives marked containers (`MarkedDict`, `MarkedList`) that know the line and
column of every key and value. A `Node` is one value of such a document with its key
path: it hands out its children as Nodes and says where it is as an `Origin`, without
walking from the document's root each time. Builders read Nodes and keep Origins in the
model; the raw document itself never reaches the model.

A Node never assumes the document is valid: asking a string for its keys gives none,
so a builder can run on a document the JSON Schema rejected without crashing.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Any

from runner.language.model import Origin
from runner.language.yamlload import Mark, MarkedDict, MarkedList

__all__ = ["Node", "freeze", "plain"]


class Node:
    """One value of a (marked) YAML document, with its key path and position."""

    __slots__ = ("value", "file", "path", "mark", "key_mark")

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
        return isinstance(self.value, Mapping)

    @property
    def is_list(self) -> bool:
        return isinstance(self.value, list)

    def __contains__(self, key: Any) -> bool:
        return isinstance(self.value, Mapping) and key in self.value

    def get(self, key: Any, default: Any = None) -> Any:
        """The plain value at `key` of a mapping; `default` when absent or not a mapping."""
        value = self.value
        return value.get(key, default) if isinstance(value, Mapping) else default

    def text(self, key: Any) -> str | None:
        """The value at `key` when it is a string, else None."""
        value = self.get(key)
        return value if isinstance(value, str) else None

    def child(self, key: Any) -> Node:
        """The Node at `key` (of a mapping) or index `key` (of a list); it must exist."""
        value = self.value
        if isinstance(value, MarkedDict):
            return Node(
                value[key],
                self.file,
                (*self.path, key),
                value.value_marks.get(key, self.mark),
                value.key_marks.get(key, self.key_mark),
            )
        if isinstance(value, MarkedList):
            mark = value.item_marks[key]
            return Node(value[key], self.file, (*self.path, key), mark, mark)
        # a plain container (a document built in code): where its nearest marked parent is
        return Node(value[key], self.file, (*self.path, key), self.mark, self.key_mark)

    def at(self, key: Any) -> Node | None:
        """The Node at `key` when this is a mapping that has it, else None."""
        value = self.value
        if isinstance(value, Mapping) and key in value:
            return self.child(key)
        return None

    def items(self) -> Iterator[tuple[Any, Node]]:
        """(key, Node) of a mapping, in document order; nothing for anything else."""
        if isinstance(self.value, Mapping):
            for key in self.value:
                yield key, self.child(key)

    def elements(self) -> Iterator[Node]:
        """The Nodes of a list, in order; nothing for anything else."""
        if isinstance(self.value, list):
            for index in range(len(self.value)):
                yield self.child(index)

    def strings(self) -> Iterator[Node]:
        """Every string inside this value, at any depth, in document order."""
        value = self.value
        if isinstance(value, str):
            yield self
        elif isinstance(value, Mapping):
            for _, item in self.items():
                yield from item.strings()
        elif isinstance(value, list):
            for item in self.elements():
                yield from item.strings()

    # -- where ----------------------------------------------------------------------------

    @property
    def origin(self) -> Origin:
        """Where the value is (and where its key is, for messages about the key)."""
        line, col = self.mark or (None, None)
        key_line, key_col = self.key_mark or (None, None)
        return Origin(self.file, line, col, path=self.path, key_line=key_line, key_col=key_col)


def freeze(value: Any) -> Any:
    """A read-only copy of a YAML value: mappings become read-only mappings, lists tuples.

    For values the engine renders before use (an HTTP request, `with:` arguments, a
    command's env): rendering turns them back into plain dicts and lists."""
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
