"""The sql step: a statement (or script) with every template value bound as a parameter."""

from __future__ import annotations

from typing import Any

from ..model import Step
from .context import StepContext


class SqlStep:
    name = "sql"

    def _connection_name(self, step: Step, ctx: StepContext) -> str:
        name = step.connection or ctx.scope.get("__connection__")
        if not name:
            from .base import StepError

            raise StepError(
                "this sql step has no connection: set `connection:` on the runbook or step"
            )
        return name

    def render(self, step: Step, ctx: StepContext) -> tuple[str, str, list[Any]]:
        name = self._connection_name(step, ctx)
        dialect = ctx.services.connections.dialect(name)
        sql, params = ctx.render_sql(step.config, dialect)
        return name, sql, params

    def run(self, step: Step, ctx: StepContext) -> dict[str, Any]:
        name, sql, params = self.render(step, ctx)
        connections = ctx.services.connections
        connection = connections.get(name)
        try:
            return connection.execute(sql, params, ctx.timeout)
        except Exception as error:
            from .base import TransientError

            if isinstance(error, TransientError) and connection.depth == 0:
                connections.reset(name)  # reconnect on the next attempt
            raise

    def describe(self, step: Step, ctx: StepContext) -> dict[str, Any]:
        name, sql, params = self.render(step, ctx)
        return {"connection": name, "sql": sql.strip(), "params": params, "file": step.sql_file}
