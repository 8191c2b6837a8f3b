"""What can go wrong with the state store, in two kinds a run treats differently.

- StoreUnwritable: the store cannot be opened or written now (a full disk, a read-only
  or immutable file, no permission, an unreachable PostgreSQL). A run still runs and
  answers with its own status; its record waits in the spool (runner/history/spool.py)
  for the next run that can write.
- StoreDamaged: the file is not a sound SQLite database (a malformed page, not a
  database at all). A run refuses to start (UNKNOWN) with what to do: running on would
  add to a damaged file, and a person must decide. A run whose steps have already run
  when the damage shows still reports its result and spools its record.

Both are ConfigErrors, so a command that does not care which reads one clear message.
"""

from __future__ import annotations

import sqlite3

from runner.base.errors import ConfigError

# SQLite's primary result codes (https://sqlite.org/rescode.html).
_SQLITE_DAMAGED = {11, 26}  # SQLITE_CORRUPT, SQLITE_NOTADB
# SQLITE_PERM, SQLITE_BUSY, SQLITE_LOCKED, SQLITE_READONLY, SQLITE_IOERR, SQLITE_FULL,
# SQLITE_CANTOPEN, SQLITE_AUTH
_SQLITE_UNWRITABLE = {3, 5, 6, 8, 10, 13, 14, 23}


class StoreUnwritable(ConfigError):
    """The state store cannot be opened or written now; the run goes on unrecorded."""


class StoreDamaged(ConfigError):
    """The state store's file is damaged: a person must restore it or move it aside."""


def damaged(display: str, detail: str) -> StoreDamaged:
    return StoreDamaged(
        f"{display}: the state store is damaged ({detail}); restore it from a backup, or "
        f"move it aside (mv {display} {display}.damaged) and the next run starts a new "
        "one; `runbook doctor` checks it"
    )


def unwritable(display: str, detail: str, doing: str = "write to") -> StoreUnwritable:
    return StoreUnwritable(f"{display}: cannot {doing} the state store: {detail}")


def sqlite_fault(display: str, exc: sqlite3.Error) -> ConfigError | None:
    """The store error an SQLite error means, or None for one that is not the store's
    fault (a bug in a statement: it stays an internal error)."""
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    if primary in _SQLITE_DAMAGED:
        return damaged(display, str(exc))
    if primary in _SQLITE_UNWRITABLE:
        return unwritable(display, str(exc))
    return None
