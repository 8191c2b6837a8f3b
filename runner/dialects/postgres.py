"""PostgreSQL, through psqlodbc: the dialect of the shared state store too."""

from __future__ import annotations

import re

from runner.dialects.base import NAME, PARENS, Dialect

# One attribute of an ODBC connection string: `KEY=value;` or `KEY={value; with ;}`.
# (Patterns, compiled by re's cache when a PostgreSQL connection opens, not on import:
# every run imports the dialects.)
_ATTRIBUTE = r"\s*([^=;]*?)\s*=\s*(\{(?:[^}]|\}\})*\}|[^;]*)\s*(?:;|$)"
# psqlodbc's driver names (Debian's, the Windows installer's, older ones) and libraries.
_PSQLODBC = r"postgresql(?:\s*(?:unicode|ansi))?(?:\s*\(x64\))?|postgresql3\d\w?|.*psqlodbc.*"
# What psqlodbc reads BoolsAsChar from: its name, its short name (B9; B7 is
# TextAsLongVarchar) and CX, the abbreviated form whose flags hold it.
_SETS_BOOLS_AS_CHAR = frozenset({"boolsaschar", "b9", "cx"})
# Where the settings come from an odbc.ini or .dsn file this runner does not read.
_DATA_SOURCE = frozenset({"dsn", "filedsn"})


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
        them Python's True and False. Added only when the string names a psqlodbc driver
        and sets no BoolsAsChar itself (as BoolsAsChar, B9 or CX); a DSN or FILEDSN is
        opened as written, its odbc.ini deciding."""
        keys = _attributes(text)
        driver = keys.get("driver", "").strip("{}").strip()
        if keys.keys() & (_DATA_SOURCE | _SETS_BOOLS_AS_CHAR):
            return text
        if not re.fullmatch(_PSQLODBC, driver, re.IGNORECASE):
            return text
        return f"{text.rstrip().rstrip(';')};BoolsAsChar=0"


def _attributes(text: str) -> dict[str, str]:
    """A connection string's attributes by lower-case key, as far as they parse."""
    found: dict[str, str] = {}
    position = 0
    while position < len(text):
        match = re.compile(_ATTRIBUTE).match(text, position)
        if match is None or match.end() == position:
            break
        found.setdefault(match.group(1).lower(), match.group(2))
        position = match.end()
    return found
