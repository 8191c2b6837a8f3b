"""Which SQL dialect a connection speaks, read from its ODBC driver name."""

from __future__ import annotations

import re

_DRIVER_DIALECTS = (
    ("sql server", "tsql"),
    ("freetds", "tsql"),
    ("tds", "tsql"),
    ("postgres", "postgres"),
    ("psqlodbc", "postgres"),
    ("mariadb", "mysql"),
    ("mysql", "mysql"),
    ("sqlite", "sqlite"),
)


def infer_dialect(connection_string: str) -> str:
    """tsql, postgres, mysql or sqlite from the DRIVER= name; `ansi` when it says nothing."""
    text = connection_string.lower()
    match = re.search(r"driver\s*=\s*\{?([^;}]*)", text)
    name = match.group(1) if match else text
    for needle, dialect in _DRIVER_DIALECTS:
        if needle in name:
            return dialect
    return "ansi"
