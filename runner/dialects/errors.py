"""ODBC errors classified by SQLSTATE and native code: transient, timed out, aborted, or final."""

from __future__ import annotations

import re

from runner.base.errors import ABORT_REQUESTED, Aborted, StepError, StepTimeout, TransientError

# SQLSTATEs worth another attempt: connection exceptions (08xxx), timeouts, serialization
# failures, deadlocks, and PostgreSQL's "the administrator ended your session" (57P0x).
TRANSIENT_SQLSTATES = ("08", "HYT00", "HYT01", "40001", "40P01", "57P01", "57P02", "57P03")
# Native codes: SQL Server (1205 deadlock victim, -2 timeout, 10053/10054 reset,
# 233/64 pipe closed, 40613/40197/40501 Azure busy) and MySQL/MariaDB (1205 lock wait
# timeout, 1213 deadlock, 2002/2003 cannot connect, 2006 gone away, 2013 lost, 1927
# connection killed, 1053 shutdown in progress).
TRANSIENT_NATIVE = (
    "1205", "1213", "2002", "2003", "2006", "2013", "1927", "1053",
    "10053", "10054", "233", "64", "40613", "40197", "40501",
)  # fmt: skip
# What a cancelled statement reports: PostgreSQL 57014, MariaDB HY018 (1317), SQL Server HY008.
CANCELLED_SQLSTATES = ("57014", "HY008", "HY018")
_NATIVE_CODE = re.compile(r"\((-?\d+)\)$")  # pyodbc appends the native code last


def classify(
    name: str, error: Exception, timeout: float, cancelled: str | None = None
) -> BaseException:
    """The runner's error for a pyodbc error: StepTimeout, TransientError or StepError."""
    args = getattr(error, "args", ())
    sqlstate = str(args[0]) if len(args) > 1 else ""
    text = str(args[1]) if len(args) > 1 else str(error)
    text = re.sub(r"\s*\((?:SQL\w+)\)\s*$", "", text).strip()  # the ODBC call: noise to a reader
    if cancelled == "abort" or (ABORT_REQUESTED.is_set() and sqlstate in CANCELLED_SQLSTATES):
        return Aborted()
    if cancelled == "timeout" or sqlstate in ("HYT00", "HYT01"):
        return StepTimeout(f"{name}: statement cancelled after its timeout of {timeout:g}s")
    message = f"{name}: {text}"
    if sqlstate and f"[{sqlstate}]" not in text:
        message += f" (SQLSTATE {sqlstate})"
    native = _NATIVE_CODE.search(text)
    if sqlstate.startswith(TRANSIENT_SQLSTATES) or (native and native.group(1) in TRANSIENT_NATIVE):
        return TransientError(message)
    return StepError(message)
