"""Builds the immutable model from a document that passed schema and meaning checks."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from runner.base.durations import parse_duration
from runner.base.paths import display_path
from runner.base.status import Status
from runner.language.config import Config
from runner.language.model import (
    ACTIONS,
    Assertion,
    InputSpec,
    Origin,
    RetryPolicy,
    Runbook,
    Step,
    StepDefaults,
    Threshold,
)
from runner.language.templates import is_template
from runner.language.yamlload import format_path, locate


def is_sql_file(text: str) -> bool:
    text = text.strip()
    return "\n" not in text and text.lower().endswith(".sql") and " " not in text


def find_sql_file(name: str, sql_dirs: tuple[Path, ...], dialect: str | None = None) -> Path | None:
    """`sql/<dialect>/<name>` first, then `sql/<name>`."""
    for folder in sql_dirs:
        candidates = [folder / dialect / name] if dialect else []
        candidates.append(folder / name)
        for candidate in candidates:
            if candidate.is_file():
                return candidate
    return None


def _default_timeout(action: str, config: Any, defaults: StepDefaults) -> float:
    """A wait step may take as long as it waits, whatever the default timeout says."""
    if action == "wait" and not is_template(config):
        return max(defaults.timeout, parse_duration(config) + 1.0)
    return defaults.timeout


def step_id(raw: Mapping[str, Any], path: tuple[Any, ...]) -> str:
    if "id" in raw:
        return str(raw["id"])
    return "step-" + "-".join(str(p + 1) for p in path if isinstance(p, int))


class _Builder:
    def __init__(self, document: Mapping[str, Any], display: str, config: Config) -> None:
        self.document = document
        self.display = display
        self.config = config

    def origin(self, path: tuple[Any, ...]) -> Origin:
        mark = locate(self.document, path)
        line, col = mark if mark else (None, None)
        return Origin(self.display, line, col, format_path(path))

    def steps(
        self, raws: Any, path: tuple[Any, ...], defaults: StepDefaults, connection: str | None
    ) -> tuple[Step, ...]:
        return tuple(
            self.step(raw, (*path, index), defaults, connection)
            for index, raw in enumerate(raws or [])
        )

    def step(
        self,
        raw: Mapping[str, Any],
        path: tuple[Any, ...],
        defaults: StepDefaults,
        connection: str | None,
    ) -> Step:
        action = next((name for name in ACTIONS if name in raw), "group")
        config: Any = raw.get(action) if action != "group" else None
        connection = raw.get("connection", connection)
        sql_file = None
        if action == "sql" and is_sql_file(config):
            dialect = None
            spec = self.config.connections.get(connection or "")
            if spec is not None:
                dialect = spec.dialect
            found = find_sql_file(config.strip(), self.config.sql_dirs, dialect)
            if found is not None:
                sql_file = display_path(found)
                config = found.read_text(encoding="utf-8")
        thresholds = tuple(
            Threshold(
                name=name,
                warning=spec.get("warning"),
                critical=spec.get("critical"),
                direction=spec.get("direction", "above"),
                value=spec.get("value"),
                origin=self.origin((*path, "thresholds", name)),
            )
            for name, spec in (raw.get("thresholds") or {}).items()
        )
        asserts = []
        for index, item in enumerate(raw.get("assert") or []):
            where = self.origin((*path, "assert", index))
            if isinstance(item, str):
                asserts.append(Assertion(item, Status.CRITICAL, None, where))
            else:
                asserts.append(
                    Assertion(
                        str(item["that"]),
                        Status(item.get("severity", "critical").upper()),
                        item.get("message"),
                        where,
                    )
                )
        nested_defaults = defaults
        return Step(
            id=step_id(raw, path),
            action=action,
            config=config,
            origin=self.origin(path),
            title=raw.get("title", ""),
            when=raw.get("when"),
            timeout=parse_duration(raw["timeout"])
            if "timeout" in raw
            else _default_timeout(action, config, defaults),
            retry=RetryPolicy.from_raw(raw.get("retry"), defaults.retry),
            until=raw.get("until"),
            thresholds=thresholds,
            asserts=tuple(asserts),
            hint=raw.get("hint"),
            confirm=raw.get("confirm"),
            on_error=raw.get("on_error", defaults.on_error),
            connection=connection,
            with_=raw.get("with") or {},
            options={key: raw[key] for key in ("shell", "env", "cwd") if key in raw},
            for_each=raw.get("for_each"),
            as_=raw.get("as", "item"),
            concurrency=int(raw.get("concurrency", 1)),
            on_item_error=raw.get("on_item_error", "continue"),
            transaction=bool(raw.get("transaction", False)),
            steps=self.steps(raw.get("steps"), (*path, "steps"), nested_defaults, connection),
            sql_file=sql_file,
            alert=dict(raw.get("alert") or {}),
        )

    def inputs(self) -> tuple[InputSpec, ...]:
        from runner.language.inputs import coerce

        out = []
        for name, spec in (self.document.get("inputs") or {}).items():
            kind = spec.get("type", "string")
            has_default = "default" in spec
            default = coerce(spec, name, spec["default"]) if has_default else None
            out.append(
                InputSpec(
                    name=name,
                    type=kind,
                    default=default,
                    has_default=has_default,
                    description=spec.get("description", ""),
                    minimum=spec.get("minimum"),
                    maximum=spec.get("maximum"),
                    choices=tuple(spec.get("enum") or ()),
                    secret=bool(spec.get("secret", False)),
                )
            )
        return tuple(out)

    def runbook(self) -> Runbook:
        doc = self.document
        is_check = "check" in doc and "runbook" not in doc
        defaults = self.config.defaults.merged(doc.get("defaults"))
        connection = doc.get("connection")
        on_failure = doc.get("on_failure")
        on_failure_steps: tuple[Step, ...] = ()
        on_failure_runbook = None
        if isinstance(on_failure, list):
            on_failure_steps = self.steps(on_failure, ("on_failure",), defaults, connection)
        elif isinstance(on_failure, Mapping):
            on_failure_runbook = dict(on_failure)
        return Runbook(
            name=str(doc["check"] if is_check else doc["runbook"]),
            path=self.display,
            title=doc.get("title", ""),
            kind=doc.get("kind", "check" if is_check else "health-check"),
            description=doc.get("description", ""),
            tags=tuple(doc.get("tags") or ()),
            schedule=doc.get("schedule"),
            timezone=doc.get("timezone"),
            connection=connection,
            inputs=self.inputs(),
            vars=dict(doc.get("vars") or {}),
            notify=dict(doc.get("notify") or {}),
            steps=self.steps(doc.get("steps"), ("steps",), defaults, connection),
            on_failure=on_failure_steps,
            on_failure_runbook=on_failure_runbook,
            finally_=self.steps(doc.get("finally"), ("finally",), defaults, connection),
            concurrency=doc.get("concurrency", "skip"),
            is_check=is_check,
        )


def build(document: Mapping[str, Any], display: str, config: Config) -> Runbook:
    return _Builder(document, display, config).runbook()
