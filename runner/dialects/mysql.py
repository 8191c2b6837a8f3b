"""MySQL and MariaDB, through MariaDB Connector/ODBC or MySQL's own driver."""

from __future__ import annotations

import re

from runner.dialects.base import NAMES, Dialect
from runner.dialects.scripts import LEADING_COMMENTS, split_statements

# Statements MySQL/MariaDB commit implicitly, so a rehearsal could not roll them back.
_IMPLICIT_COMMIT = re.compile(
    r"(?:create|alter|drop|rename|truncate|grant|revoke|lock\s+tables|unlock\s+tables"
    r"|load\s+data|analyze\s+table|optimize\s+table|repair\s+table|install|uninstall)\b",
    re.I,
)


class MySQL(Dialect):
    """MySQL and MariaDB: one statement per call (the driver runs without MULTI_STATEMENTS)."""

    name = "mysql"
    title = "MySQL/MariaDB"
    drivers = ("mariadb", "mysql")
    sqlglot = "mysql"
    quotes = ("`", "`")
    # MariaDB Connector/ODBC 3.1 garbles a UTF-16 parameter of 128 characters or more
    # (or fails with "Memory allocation error" in SQLPutData): text goes as UTF-8.
    parameter_encoding = "utf-8"
    # OPTIMIZE [NO_WRITE_TO_BINLOG | LOCAL] TABLE t, ... (ANALYZE TABLE sqlglot knows).
    maintenance = {"OPTIMIZE": rf"(?:(?:NO_WRITE_TO_BINLOG|LOCAL)\s+)?TABLES?\s+{NAMES}"}
    # 1205 lock wait timeout, 1213 deadlock, 2002/2003 cannot connect, 2006 server gone
    # away, 2013 connection lost, 1927 connection killed, 1053 server shutting down.
    transient_native = frozenset(("1205", "1213", "2002", "2003", "2006", "2013", "1927", "1053"))
    # A statement cancelled on MariaDB reports HY018 (native 1317, query interrupted).
    cancelled_sqlstates = frozenset({*Dialect.cancelled_sqlstates, "HY018"})

    def split(self, script: str) -> list[str]:
        return split_statements(script)

    def implicit_commit(self, statement: str) -> str | None:
        """CREATE, ALTER, DROP, TRUNCATE, ...: MySQL commits DDL, grants and table locks."""
        text = LEADING_COMMENTS.sub("", statement, count=1).lstrip()
        return text.split()[0].upper() if _IMPLICIT_COMMIT.match(text) else None
