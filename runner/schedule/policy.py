"""The defaults of a schedule's policies, in one place for the language and the tools
that read them (`runbook next`, the exports, and the scheduler to come)."""

from __future__ import annotations

#: `catchup:` after downtime: run no missed slot, the latest one, or each one.
CATCHUP_MODES = ("none", "latest", "all")
DEFAULT_CATCHUP = "latest"
#: `catchup_window:` missed slots older than this are not caught up (seconds).
DEFAULT_CATCHUP_WINDOW = 24 * 3600.0
#: The least default `grace:` (seconds): a run a few minutes late is not LATE.
MIN_GRACE = 5 * 60.0


def default_grace(interval: float, jitter: float = 0.0) -> float:
    """How late a due run may be before its runbook is LATE, when `grace:` is not
    written: a tenth of the shortest interval of the schedule, at least 5 minutes, plus
    the jitter (a run that jitter delays is not late for it)."""
    return max(interval / 10, MIN_GRACE) + jitter
