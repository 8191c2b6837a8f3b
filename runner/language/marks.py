"""Marked containers and key paths: where each key and value of a document was written.

yamlload.py loads documents into these; the model, the checks and the messages read
them. They need no YAML parser, so a run whose model comes from the cache (cache.py)
never imports one.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

Mark = tuple[int, int]


class MarkedDict(dict[Any, Any]):
    """A mapping with the positions of its keys (`key_marks`) and values (`value_marks`).

    The document yamlload returns also says whether it is `json_shaped`: every key a
    string, every value a mapping, list, string, whole or finite number, boolean or null
    (YAML can also make dates, sets, bytes and `!!omap` lists of tuples). Unset on the
    mappings inside it and on those made in code: ask schema.py's `_json_shaped` then."""

    __slots__ = ("mark", "key_marks", "value_marks", "json_shaped")
    json_shaped: bool  # of the root only

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.mark: Mark = (1, 1)
        self.key_marks: dict[Any, Mark] = {}
        self.value_marks: dict[Any, Mark] = {}


class MarkedList(list[Any]):
    """A list with the positions of its items (`item_marks`); `json_shaped` as MarkedDict's."""

    __slots__ = ("mark", "item_marks", "json_shaped")
    json_shaped: bool  # of the root only

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.mark: Mark = (1, 1)
        self.item_marks: list[Mark] = []


def locate(document: Any, path: Iterable[Any], at: str = "value") -> Mark | None:
    """The (line, col) of the value (or key, with at="key") at `path` in a marked document."""
    node = document
    found: Mark | None = getattr(document, "mark", None)
    for segment in path:
        if isinstance(node, MarkedDict) and segment in node:
            marks = node.key_marks if at == "key" else node.value_marks
            found = marks.get(segment, found)
            node = node[segment]
        elif isinstance(node, MarkedList) and isinstance(segment, int) and segment < len(node):
            found = node.item_marks[segment]
            node = node[segment]
        else:
            break
    return found


def format_path(path: Iterable[Any]) -> str:
    """steps[2].thresholds.pending_count"""
    out = ""
    for segment in path:
        if isinstance(segment, int):
            out += f"[{segment}]"
        else:
            out += f".{segment}" if out else str(segment)
    return out
