"""PostgreSQL, through psqlodbc: the dialect of the shared state store too."""

from __future__ import annotations

import re

from runner.dialects.base import NAME, PARENS, Dialect

# BoolsAsChar among a connection string's attributes (`;BoolsAsChar=1`, `boolsaschar = 0`).
_BOOLS_AS_CHAR = re.compile(r"(?:^|;)\s*BoolsAsChar\s*=", re.IGNORECASE)


class Postgres(Dialect):
    """PostgreSQL; scripts go to the server whole, which runs every statement."""

    name = "postgres"
    title = "PostgreSQL"
    drivers = ("postgres", "psqlodbc")
    sqlglot = "postgres"
    one_result_per_statement = True
    # VACUUM [(options)] [FULL] [FREEZE] [VERBOSE] [ANALYZE] [table [(columns)], ...] and
    # REINDEX [(options)] INDEX|TABLE|SCHEMA|DATABASE|SYSTEM [CONCURRENTLY] [name]
    # (ANALYZE sqlglot knows itself).
    maintenance = {
        "VACUUM": rf"(?:{PARENS})?(?:\s*\b(?:FULL|FREEZE|VERBOSE|ANALYZE|ANALYSE)\b)*"
        rf"(?:\s*{NAME}(?:\s*{PARENS})?(?:\s*,\s*{NAME}(?:\s*{PARENS})?)*)?",
        "REINDEX": rf"(?:{PARENS})?\s*(?:INDEX|TABLE|SCHEMA|DATABASE|SYSTEM)"
        rf"(?:\s+CONCURRENTLY)?(?:\s+{NAME})?",
    }
    # 40P01 deadlock; 57P01-03: the administrator ended the session, the server is
    # shutting down (crash or restart), it cannot take connections yet.
    transient_sqlstates = (*Dialect.transient_sqlstates, "40P01", "57P01", "57P02", "57P03")
    cancelled_sqlstates = frozenset({*Dialect.cancelled_sqlstates, "57014"})  # query_canceled
    lost_sqlstates = (*Dialect.lost_sqlstates, "57P01")
    # psqlodbc reports some dropped connections under HY000, with only its words to go by.
    lost_words = (
        *Dialect.lost_words,
        ("connection has been lost",),
        ("no connection to the server",),
        ("server closed the connection",),
        ("could not send data",),
    )

    def odbc_connection_string(self, text: str) -> str:
        """psqlodbc hands booleans over as the text '1' or '0' (its BoolsAsChar default),
        so `SELECT pg_terminate_backend(pid)` would read as a string: BoolsAsChar=0 makes
        them Python's True and False. A connection string (or DSN) that sets BoolsAsChar
        itself is left as it is."""
        if _BOOLS_AS_CHAR.search(text):
            return text
        return f"{text.rstrip().rstrip(';')};BoolsAsChar=0"
