"""SQL dialects: what the runner knows of each database's SQL and driver, one module each.

A dialect module (tsql.py, postgres.py, ...) subclasses `Dialect` (base.py) and
declares what differs from the ODBC and SQL standards there:

- `name` (runner.yaml's `dialect:`, and the folder sql/<name>/), `title` for messages;
- `drivers`: pieces of ODBC driver names it is inferred from ("freetds");
- errors: `transient_sqlstates` and `transient_native` codes (worth another attempt),
  `cancelled_sqlstates`, `timeout_sqlstates`, and what says the session is gone
  (`lost_sqlstates`, `lost_words`); `classify()` and `connection_lost()` read them;
- savepoints: `savepoint_sql`, `rollback_to_sql`, `release_sql` ("": no RELEASE);
- `implicit_commit()`: statements the server commits by itself (MySQL's DDL);
- `quotes` around identifiers;
- `sqlglot`: sqlglot's name for it, for `runbook validate`'s syntax check;
- `split()`: the pieces of a script to send one by one (T-SQL `GO` batches, one
  statement at a time for MySQL and SQLite, whole for PostgreSQL), and `batches()`
  for the syntax check;
- `one_result_per_statement`: whether the driver need not be asked for more result sets.

To add a dialect: write runner/dialects/<name>.py, add its class to `DIALECTS` below
(the order is the order `infer` tries driver names in), add the name to the `dialect`
enum of schemas/runner.schema.json, and add its own tests; tests/test_dialects.py
checks every registered dialect against the whole contract.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

from runner.base.errors import ConfigError
from runner.dialects.ansi import Ansi
from runner.dialects.base import Dialect
from runner.dialects.mysql import MySQL
from runner.dialects.postgres import Postgres
from runner.dialects.sqlite import SQLite
from runner.dialects.tsql import Tsql

__all__ = ["DIALECTS", "Dialect", "get", "infer"]

#: Every dialect by name, in the order `infer` tries their driver names; ansi, the
#: fallback, names none.
DIALECTS: Mapping[str, Dialect] = MappingProxyType(
    {dialect.name: dialect for dialect in (Tsql(), Postgres(), MySQL(), SQLite(), Ansi())}
)
_DRIVER = re.compile(r"driver\s*=\s*\{?([^;}]*)")


def get(name: str) -> Dialect:
    """The dialect called `name`; ConfigError naming the known ones for any other name."""
    found = DIALECTS.get(name)
    if found is None:
        raise ConfigError(f"unknown SQL dialect {name!r} (known: {', '.join(sorted(DIALECTS))})")
    return found


def infer(connection_string: str) -> Dialect:
    """The dialect of an ODBC connection string, from its DRIVER= name (from the whole
    string when it names none, as a DSN); ansi when that says nothing."""
    text = connection_string.lower()
    match = _DRIVER.search(text)
    driver = match.group(1) if match else text
    for dialect in DIALECTS.values():
        if any(needle in driver for needle in dialect.drivers):
            return dialect
    return DIALECTS["ansi"]
