"""A sql step's statement made ready once (steps/sql.py): what each call of it pays for
is only binding its values and running it (bench/odbc_overhead.py)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from runner.base.errors import TransientError
from runner.language import sqltemplates

if TYPE_CHECKING:
    from runner.databases.connections import Connection, Connections
    from runner.databases.odbc import OdbcConnection


class ReadyStatement:
    """A sql step made ready (`SqlStep.prepare`, `SqlStep.run`): the connection's name,
    dialect and the text's binder found once; per call, the call's values bound and the
    statement run on the connection. A loop's statement (`hold`) keeps its connection
    from the first call until it fails in a way that resets it; a step's own, kept for
    the run, asks the run's Connections each time."""

    __slots__ = ("bind", "connections", "held", "hold", "name", "query_timeout", "text", "where")

    def __init__(
        self, connections: Connections, name: str, text: str, where: str, *, hold: bool
    ) -> None:
        self.connections, self.name, self.hold = connections, name, hold
        self.text, self.where = text, where  # what `bind` was made for
        self.bind = sqltemplates.sql_binder(text, connections.dialect(name), where)
        self.held: Connection | OdbcConnection | None = None
        self.query_timeout = 0.0

    def __call__(self, scope: Mapping[str, Any], timeout: float) -> dict[str, Any]:
        sql, params = self.bind(scope)
        connection = self.held if self.held is not None else self._connect()
        query_timeout = self.query_timeout
        if query_timeout and (not timeout or query_timeout < timeout):
            timeout = query_timeout
        try:
            return connection.execute(sql, params, timeout)
        except TransientError:
            self._dropped(connection)
            raise

    def many(self, feed: Iterator[tuple[Mapping[str, Any], float]]) -> bool:
        """The statement for each (scope, timeout) of `feed`, as one batch of the
        connection's (SQLite's executemany), while each scope binds to the first one's
        text; what each statement returned is not kept. True when `feed` ran out; False
        when it stopped at the last scope taken, which was not run: one that binds to
        another text, or the first, when the connection takes no batch of this statement
        (ODBC; a statement `__call__` has not run yet, or that returns rows). A
        statement's failure raises as `__call__` does, for the last scope taken."""
        first = next(feed, None)
        if first is None:
            return True
        bind, query_timeout = self.bind, self.query_timeout
        sql, params = bind(first[0])
        stopped = False

        def each() -> Iterator[tuple[list[Any], float]]:
            nonlocal stopped
            values, (scope, timeout) = params, first
            while True:
                if query_timeout and (not timeout or query_timeout < timeout):
                    timeout = query_timeout
                yield values, timeout
                taken = next(feed, None)
                if taken is None:
                    return
                scope, timeout = taken
                text, values = bind(scope)
                if text != sql:
                    stopped = True
                    return

        connection = self.held if self.held is not None else self._connect()
        execute_many = getattr(connection, "execute_many", None)
        try:
            if execute_many is None or not execute_many(sql, each()):
                return False
        except TransientError:
            self._dropped(connection)
            raise
        return not stopped

    def _connect(self) -> Connection | OdbcConnection:
        try:
            connection = self.connections.get(self.name)
        except TransientError:
            self.connections.reset(self.name)
            raise
        if self.hold:
            self.held = connection
        self.query_timeout = connection.spec.query_timeout or 0.0
        return connection

    def _dropped(self, connection: Connection | OdbcConnection) -> None:
        """After a transient failure: reconnect on the next attempt, unless a transaction
        is open on the connection (then the transaction is retried as a whole)."""
        if connection.depth == 0:
            self.connections.reset(self.name)
            self.held = None
