"""PostgreSQL, through psqlodbc: the dialect of the shared state store too."""

from __future__ import annotations

from runner.dialects.base import Dialect


class Postgres(Dialect):
    """PostgreSQL; scripts go to the server whole, which runs every statement."""

    name = "postgres"
    title = "PostgreSQL"
    drivers = ("postgres", "psqlodbc")
    sqlglot = "postgres"
    one_result_per_statement = True
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
