"""What an executor is handed for one attempt of one step."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from runner.base.abort import RunAbort
from runner.base.structs import Struct, field
from runner.language import templates
from runner.language.filters import ON_SECRET


class StepContext(Struct):
    """What a step type's `run` is given for one attempt: scope, time left, connections."""

    scope: Mapping[str, Any]  # template context: inputs, steps, env, vars, now, run, item
    timeout: float  # seconds this attempt may take
    mode: str = "run"  # run | dry-run | rehearse
    where: str = ""  # "file:line: key" of the step, prefixed to template errors
    services: Any = None  # the engine's per-run services (connections, nested runs)
    sleep: Callable[[float], None] = field(default=lambda seconds: None)
    log: Callable[[str], None] = field(default=lambda message: None)
    notifier: Any = None  # the run's Apprise notifier (notifiers.services.Notifier), if any
    deliveries: list[dict[str, Any]] | None = None  # where the run collects what was sent
    abort: RunAbort = field(default_factory=RunAbort)  # the run's: set, a running step stops

    @property
    def root(self) -> str | None:
        """The folder of runner.yaml, where relative paths of a step start (None when no
        engine runs the step: a bare context in a test)."""
        engine = getattr(self.services, "engine", None)
        root = getattr(getattr(engine, "config", None), "root", None)
        return str(root) if root is not None else None

    def render(self, value: Any) -> Any:
        """`value` with its templates rendered; what a filter such as `hmac_sha256` finds
        secret is masked for the rest of the run."""
        scope = self.scope
        masker = getattr(getattr(self.services, "engine", None), "masker", None)
        if masker is not None:
            scope = {**scope, ON_SECRET: masker.add}
        return templates.render_value(value, scope, self.where)

    def evaluate(self, expression: Any) -> Any:
        return templates.evaluate(expression, self.scope, self.where)
