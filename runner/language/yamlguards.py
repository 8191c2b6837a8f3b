"""What loading a YAML document refuses before anything recurses on it: nesting deeper
than MAX_DEPTH, and aliases that expand to more than MAX_EXPANDED_NODES values.

Composing in C (libyaml 0.2.5 and later) stops at 1,000 levels by itself; the loader then
checks the depth while constructing (yamlload.py), and only a document with anchors is
walked first (`deeper_than`, then `expanded_size`). Without such a composer, the depth is
read from the event stream before composing (`too_deep`), which does not recurse.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import yaml

from runner.base.errors import Problem

MAX_EXPANDED_NODES = 100_000
#: How deep mappings and lists may nest. A runbook's deepest real nesting is a handful
#: of groups; far deeper documents only exhaust Python's recursion in every later stage.
MAX_DEPTH = 50

if TYPE_CHECKING:  # the C loader when libyaml is there; both have SafeLoader's interface
    _Base = yaml.SafeLoader
else:
    _Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _composer_bounds_nesting() -> bool:
    """Whether composing stops deep nesting by itself: libyaml 0.2.5 and later refuse
    more than 1,000 levels in C, without recursing further. Otherwise (the pure-Python
    composer, an older libyaml) the depth is read from the event stream first."""
    if _Base is yaml.SafeLoader:
        return False
    try:
        from yaml import _yaml

        return tuple(_yaml.get_version()) >= (0, 2, 5)
    except (ImportError, AttributeError, TypeError):
        return False


BOUNDED = _composer_bounds_nesting()


def depth_problem(mark: Any, filename: str) -> Problem:
    return Problem(
        f"the document nests more than {MAX_DEPTH} levels deep and was refused",
        filename,
        mark.line + 1 if mark else None,
        mark.column + 1 if mark else None,
        hint="a runbook never needs this; flatten the nesting",
    )


def deeper_than(node: yaml.Node, levels: int, seen: set[int]) -> yaml.Node | None:
    """The first mapping or list more than `levels` below `node` (recursing at most
    `levels` deep; a node reached twice through aliases is walked once)."""
    if isinstance(node, yaml.ScalarNode) or id(node) in seen:
        return None
    seen.add(id(node))
    children = (
        [part for pair in node.value for part in pair]
        if isinstance(node, yaml.MappingNode)
        else node.value
    )
    for child in children:
        if isinstance(child, yaml.CollectionNode):
            if levels <= 0:
                return child
            deep = deeper_than(child, levels - 1, seen)
            if deep is not None:
                return deep
    return None


def too_deep(text: str, filename: str) -> Problem | None:
    """The first mapping or list nested deeper than MAX_DEPTH, read from the event stream
    (which does not recurse, unlike composing, constructing and every later stage)."""
    if text.count("\n") + text.count("[") + text.count("{") < MAX_DEPTH:
        return None  # too few lines and brackets to nest that deep
    depth = 0
    for event in yaml.parse(text, Loader=_Base):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                return depth_problem(event.start_mark, filename)
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1
    return None


def expanded_size(node: yaml.Node, memo: dict[int, int]) -> int:
    """How many nodes `node` becomes once every alias is expanded (memoised, so linear)."""
    known = memo.get(id(node))
    if known is not None:
        return known
    memo[id(node)] = 1  # a recursive alias counts once instead of looping
    size = 1
    if isinstance(node, yaml.SequenceNode):
        for child in node.value:
            size += expanded_size(child, memo)
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            size += expanded_size(key, memo) + expanded_size(value, memo)
    size = min(size, MAX_EXPANDED_NODES * 10)
    memo[id(node)] = size
    return size


def expanded_depth(node: yaml.Node, memo: dict[int, int]) -> int:
    """How deep mappings and lists nest below and at `node` once every alias is expanded
    (memoised, so linear; recursing no deeper than the document is written, which
    deeper_than bounds: an anchor comes before its aliases)."""
    if not isinstance(node, yaml.CollectionNode):
        return 0
    known = memo.get(id(node))
    if known is not None:
        return known
    memo[id(node)] = 1  # a recursive alias is refused by constructing, not here
    children = (
        [part for pair in node.value for part in pair]
        if isinstance(node, yaml.MappingNode)
        else node.value
    )
    depth = 1 + max((expanded_depth(child, memo) for child in children), default=0)
    memo[id(node)] = depth
    return depth
