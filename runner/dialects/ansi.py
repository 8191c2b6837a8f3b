"""The generic fallback: standard SQL for a server whose driver name says nothing (a DSN).

Its errors are read with every known dialect's codes, since the server is unknown and
their codes do not collide: a DSN to SQL Server still retries a deadlock victim (1205).
Name the dialect in runner.yaml (`dialect: tsql`) to get the rest of it: its quoting,
savepoints, script splitting and syntax check.
"""

from __future__ import annotations

from runner.dialects.base import Dialect
from runner.dialects.mysql import MySQL
from runner.dialects.postgres import Postgres
from runner.dialects.sqlite import SQLite
from runner.dialects.tsql import Tsql

_KNOWN = (Tsql, Postgres, MySQL, SQLite)


class Ansi(Dialect):
    """Standard SQL; sqlglot's generic dialect checks its syntax."""

    name = "ansi"
    title = "generic SQL"
    transient_sqlstates = tuple(dict.fromkeys(s for d in _KNOWN for s in d.transient_sqlstates))
    transient_native = frozenset().union(*(d.transient_native for d in _KNOWN))
    cancelled_sqlstates = frozenset().union(*(d.cancelled_sqlstates for d in _KNOWN))
    lost_sqlstates = tuple(dict.fromkeys(s for d in _KNOWN for s in d.lost_sqlstates))
    lost_words = tuple(dict.fromkeys(w for d in _KNOWN for w in d.lost_words))
