"""What the engine can run in one transaction, checked before a run starts.

A transaction holds one connection, and one connection runs one statement at a time: so
every sql step inside it runs on that connection, only sql steps (and groups and loops of
them) are inside it (an HTTP call or a command cannot be rolled back), and no loop inside
it runs items in parallel. `transaction: per_item` gives each item of a `for_each` its own
transaction, so its items may run in parallel (each worker on its own connection).

Each transaction step checks its own body down to the transactions nested in it, which
check theirs: a problem is reported once, by the innermost transaction holding it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from runner.language.model import Origin, Step

#: add(origin, message, hint, at): how the check of meaning (meaning.py) records a problem
Add = Callable[..., None]

_PARALLEL = (
    "the items of a loop in one transaction cannot run in parallel: one connection runs "
    "one statement at a time"
)
_PARALLEL_HINT = "remove `concurrency`, or use `transaction: per_item` to give each item its own"


def check_transaction(step: Step, add: Add) -> None:
    """The problems of a step with `transaction:` (true or per_item), and of its body."""
    keys = step.keys
    loop = "for_each" in keys
    if step.transaction == "per_item" and not loop:
        add(
            keys["transaction"],
            "`transaction: per_item` only has a meaning beside for_each",
            "a group is all or nothing: `transaction: true`",
        )
        return
    if "steps" not in keys:
        if not loop:
            add(keys["transaction"], "a transaction needs nested sql steps under `steps:`")
        elif step.action != "sql":
            add(step.origin, "only sql steps can run inside a transaction", at="key")
    if step.transaction is True and loop and step.concurrency > 1 and "concurrency" in keys:
        add(keys["concurrency"], _PARALLEL, _PARALLEL_HINT)
    for nested in _body(step):
        if "steps" not in nested.keys and "sql" not in nested.keys:
            add(nested.origin, "only sql steps can run inside a transaction", at="key")
        if "for_each" in nested.keys and nested.concurrency > 1 and "concurrency" in nested.keys:
            add(nested.keys["concurrency"], _PARALLEL, _PARALLEL_HINT)
        other, mine = nested.connection, step.connection
        if "connection" in nested.keys and isinstance(mine, str) and other != mine:
            add(
                nested.keys["connection"],
                f"this step runs on connection {other!r}, but its transaction "
                f"({_path(step.origin)}) runs on {mine!r}",
                "a transaction holds one connection: move the step out of the "
                "transaction, or use one connection",
            )


def _body(step: Step) -> Iterator[Step]:
    """The steps inside `step`'s transaction, down to (and including) nested transactions."""
    for nested in step.steps:
        yield nested
        if not nested.transaction:
            yield from _body(nested)


def _path(origin: Origin) -> str:
    return origin.key or str(origin)
