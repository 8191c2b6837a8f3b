"""What a driver's error says: its SQLSTATE, its message and the server's native code.

Every reader of a pyodbc error goes through `DriverError.of`; what the error means
(transient, cancelled, the session gone) is each dialect's to say (`Dialect.classify`,
`Dialect.connection_lost`).
"""

from __future__ import annotations

import re

from runner.base.structs import Struct

_ODBC_CALL = re.compile(r"\s*\((?:SQL\w+)\)\s*$")  # "(SQLExecDirectW)": noise to a reader
_NATIVE_CODE = re.compile(r"\((-?\d+)\)$")  # pyodbc appends the native code last
_TAGS = re.compile(r"^(\[[^\]]*\]\s*)+")  # "[08001][unixODBC][Driver Manager]"


class DriverError(Struct, frozen=True):
    """A pyodbc error read: pyodbc.Error's args are (sqlstate, message), or only a
    message for pyodbc's own errors ("Attempt to use a closed connection.")."""

    sqlstate: str  # "" when the error has none
    message: str  # as the driver wrote it

    @classmethod
    def of(cls, error: BaseException) -> DriverError:
        args = error.args
        if len(args) > 1:
            return cls(str(args[0]), str(args[1]))
        return cls("", str(error))

    @property
    def text(self) -> str:
        """The message without the name of the ODBC call at its end."""
        return _ODBC_CALL.sub("", self.message).strip()

    @property
    def native(self) -> str | None:
        """The server's or driver's own error code: "1213" of "... (1213) (SQLExecDirectW)"."""
        found = _NATIVE_CODE.search(self.text)
        return found.group(1) if found else None

    @property
    def first_line(self) -> str:
        """Its first line without [sqlstate][driver] tags or the ODBC call: what a reader
        needs to know in a one-line note; "" when the message is empty."""
        line = next((line.strip() for line in self.message.splitlines() if line.strip()), "")
        line = re.sub(r"\s*\(SQL\w+\)$", "", _TAGS.sub("", line))
        return " ".join(line.split())
