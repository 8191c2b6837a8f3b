"""Statuses of steps and runs, ordered by how bad they are."""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum


class Status(str, Enum):  # noqa: UP042 - str mixin keeps json.dumps(status) plain
    OK = "OK"
    SKIPPED = "SKIPPED"
    WARNING = "WARNING"
    UNKNOWN = "UNKNOWN"
    CRITICAL = "CRITICAL"

    @property
    def rank(self) -> int:
        return _RANK[self]

    @property
    def exit_code(self) -> int:
        """Nagios plugin convention: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN."""
        return _EXIT[self]

    @property
    def is_bad(self) -> bool:
        return self.rank >= Status.WARNING.rank

    def __str__(self) -> str:
        return self.value


_RANK = {Status.SKIPPED: 0, Status.OK: 1, Status.WARNING: 2, Status.UNKNOWN: 3, Status.CRITICAL: 4}
_EXIT = {Status.SKIPPED: 0, Status.OK: 0, Status.WARNING: 1, Status.CRITICAL: 2, Status.UNKNOWN: 3}


def worst(statuses: Iterable[Status], default: Status = Status.OK) -> Status:
    """The worst of `statuses`; a run of only skipped steps is OK."""
    result: Status | None = None
    for status in statuses:
        if result is None or status.rank > result.rank:
            result = status
    if result is None or result is Status.SKIPPED:
        return default
    return result
