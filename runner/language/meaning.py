"""Checks of meaning that a JSON Schema cannot express.

Runs after the schema on the marked document and collects every problem: step types,
duplicate ids, references to steps that do not exist or come later, unknown inputs,
connections, SQL files, checks and runbooks, runbook call cycles, template syntax,
thresholds whose warning lies beyond critical, invalid cron, input defaults of the
wrong type. It must not crash on documents the schema already rejected.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from runner.base.errors import InvalidInput, Problem
from runner.language import templates
from runner.language.build import step_id
from runner.language.calls import Call, check_call
from runner.language.config import STATE_CONNECTION
from runner.language.model import Origin
from runner.language.nodes import Node
from runner.language.policy import parse_after, tag_list
from runner.language.steptypes import BuildScope, Catalog, StepChecks, StepTypes, known_hint
from runner.language.yamlload import format_path, locate

_STEP_REF = re.compile(r"\bsteps(?:\.([A-Za-z_][A-Za-z0-9_]*)|\[\s*['\"]([^'\"]+)['\"]\s*\])")
_INPUT_REF = re.compile(r"\binputs(?:\.([A-Za-z_][A-Za-z0-9_]*)|\[\s*['\"]([^'\"]+)['\"]\s*\])")
_CONTEXT_NAMES = {
    "inputs",
    "steps",
    "env",
    "vars",
    "now",
    "run",
    "loop",
    "range",
    "dict",
    "lipsum",
    "cycler",
    "joiner",
    "namespace",
    "true",
    "false",
    "none",
    "True",
    "False",
    "None",
}
# keys every step may carry whose strings are templates (a step type declares its own)
_TEMPLATE_KEYS = ("title", "hint", "confirm")
_FOR_EACH_KEYS = ("as", "concurrency", "on_item_error")
_POLICY_TAG_KEYS = ("warning", "critical", "unknown", "recovered", "retried")


class _Checker:
    def __init__(
        self,
        document: Mapping[str, Any],
        kind: str,
        display: str,
        path: Path,
        library: Catalog,
        step_types: StepTypes,
    ) -> None:
        self.doc = document
        self.root = Node.root(document, display)
        self.step_types = step_types
        self.kind = kind
        self.display = display
        self.path = path
        self.library = library
        self.config = library.config
        self.problems: list[Problem] = []
        self.inputs = document.get("inputs") if isinstance(document.get("inputs"), Mapping) else {}
        self.ids: dict[str, tuple[Any, ...]] = {}

    # -- reporting -------------------------------------------------------------------
    def add(
        self,
        path: tuple[Any, ...],
        message: str,
        hint: str | None = None,
        at: str = "value",
        line_offset: int = 0,
        severity: str = "error",
    ) -> None:
        mark = locate(self.doc, path, at=at)
        line, col = mark if mark else (None, None)
        if line is not None and line_offset:
            line, col = line + line_offset, None
        self.problems.append(
            Problem(message, self.display, line, col, format_path(path) or None, hint, severity)
        )

    # -- walking -------------------------------------------------------------------------
    def step_lists(self) -> Iterator[tuple[tuple[Any, ...], list[Any]]]:
        for key in ("steps", "finally", "on_failure"):
            value = self.doc.get(key)
            if isinstance(value, list):
                yield (key,), value

    def walk(
        self, steps: list[Any], path: tuple[Any, ...]
    ) -> Iterator[tuple[tuple[Any, ...], Mapping[str, Any]]]:
        for index, raw in enumerate(steps):
            if isinstance(raw, Mapping):
                yield (*path, index), raw
                nested = raw.get("steps")
                if isinstance(nested, list):
                    yield from self.walk(nested, (*path, index, "steps"))

    # -- checks ----------------------------------------------------------------------------
    def run(self) -> list[Problem]:
        self.check_inputs()
        self.check_schedule()
        order: list[str] = []
        all_steps = []
        for path, steps in self.step_lists():
            for step_path, raw in self.walk(steps, path):
                all_steps.append((step_path, raw))
                sid = step_id(raw, step_path)
                if sid in self.ids and "id" in raw:
                    first = locate(self.doc, (*self.ids[sid], "id"))
                    self.add(
                        (*step_path, "id"),
                        f"duplicate step id {sid!r} (first used on line {first[0] if first else '?'})",  # noqa: E501
                        "step ids must be unique in a runbook: results are reached as steps.<id>",
                    )
                self.ids.setdefault(sid, step_path)
                if step_path[0] == "steps":
                    order.append(sid)
        main_ids = set(order)
        for step_path, raw in all_steps:
            self.check_step(step_path, raw)
            sid = step_id(raw, step_path)
            if step_path[0] == "steps":
                earlier = set(order[: order.index(sid)]) if sid in order else set()
                earlier |= {sid} | self.nested_ids(raw)
            else:
                earlier = main_ids | {step_id(r, p) for p, r in all_steps if p[0] == step_path[0]}
            self.check_references(step_path, raw, earlier)
        self.check_on_failure()
        self.check_notifications(all_steps)
        return self.problems

    # -- notifications ---------------------------------------------------------------------
    def check_notifications(
        self, all_steps: list[tuple[tuple[Any, ...], Mapping[str, Any]]]
    ) -> None:
        """Policies that parse, templates that compile, and tags runner.yaml routes."""
        policies: list[tuple[tuple[Any, ...], Any]] = []
        if isinstance(self.doc.get("notify"), Mapping):
            policies.append((("notify",), self.doc["notify"]))
        for path, raw in all_steps:
            if isinstance(raw.get("alert"), Mapping):
                if len(path) != 2 or path[0] != "steps":
                    self.add(
                        (*path, "alert"),
                        "alert: only routes a top-level step",
                        "move it to the top-level step that holds this one, or to the runbook's "
                        "notify:",
                        at="key",
                    )
                policies.append(((*path, "alert"), raw["alert"]))
        tag_uses: list[tuple[tuple[Any, ...], Any]] = []
        for where, policy in policies:
            self.check_policy(where, policy)
            for key in _POLICY_TAG_KEYS:
                if key in policy:
                    tag_uses.append(((*where, key), policy[key]))
            escalate = policy.get("escalate")
            if isinstance(escalate, Mapping) and "to" in escalate:
                tag_uses.append(((*where, "escalate", "to"), escalate["to"]))
        for path, raw in all_steps:
            notify = raw.get("notify")
            if isinstance(notify, Mapping) and "to" in notify:
                tag_uses.append(((*path, "notify", "to"), notify["to"]))
        if tag_uses:
            self.check_tags(tag_uses)

    def check_policy(self, where: tuple[Any, ...], policy: Mapping[str, Any]) -> None:
        if "after" in policy:
            try:
                parse_after(policy["after"])
            except ValueError as error:
                self.add((*where, "after"), str(error))
        for key in ("title", "body"):
            text = policy.get(key)
            if isinstance(text, str):
                error = templates.syntax_error(text, False)
                if error:
                    self.add((*where, key), f"template syntax error: {error[0]}")

    def check_tags(self, uses: list[tuple[tuple[Any, ...], Any]]) -> None:
        try:
            known = self.library.known_tags()
        except InvalidInput as error:
            first = error.problems[0]
            self.add(
                uses[0][0],
                f"cannot check notification tags: {first.format()}",
                "fix the notifications section of runner.yaml first",
            )
            return
        if known is None:
            return  # nothing configured: nothing to check against (the run says so)
        for path, value in uses:
            if templates.is_template(value) if isinstance(value, str) else False:
                continue
            for tag in tag_list(value):
                if tag not in known:
                    self.add(
                        path,
                        f"unknown notification tag {tag!r}",
                        self.known_hint(tag, set(known), "tags")
                        if known
                        else f"give it URLs under notifications.urls in {self.config.display_path}",
                    )

    def nested_ids(self, raw: Mapping[str, Any]) -> set[str]:
        out = set()
        for path, nested in self.walk(raw.get("steps") or [], ()):
            out.add(step_id(nested, path))
        return out

    def check_inputs(self) -> None:
        from runner.language.inputs import coerce

        for name, spec in self.inputs.items():
            if isinstance(spec, Mapping) and "default" in spec:
                try:
                    coerce(spec, name, spec["default"])
                except ValueError as error:
                    self.add(
                        ("inputs", name, "default"),
                        f"default of input {name!r} is wrong: {error}",
                        f"the input is declared as type {spec.get('type', 'string')}",
                    )

    def check_schedule(self) -> None:
        schedule = self.doc.get("schedule")
        if isinstance(schedule, str):
            from croniter import croniter

            fields = schedule.split()
            if len(fields) != 5 or not croniter.is_valid(schedule):
                self.add(
                    ("schedule",),
                    f"{schedule!r} is not a valid cron schedule",
                    "write five fields: minute hour day-of-month month day-of-week, "
                    'e.g. "0 * * * *"',
                )
        timezone = self.doc.get("timezone")
        if isinstance(timezone, str):
            from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

            try:
                ZoneInfo(timezone)
            except (ZoneInfoNotFoundError, ValueError):
                self.add(
                    ("timezone",),
                    f"unknown time zone {timezone!r}",
                    "use an IANA name such as Europe/Berlin or UTC",
                )

    def check_step(self, path: tuple[Any, ...], raw: Mapping[str, Any]) -> None:
        names = self.step_types.names
        actions = [name for name in names if name in raw]
        has_steps = "steps" in raw
        if len(actions) > 1:
            self.add(
                path,
                f"a step does exactly one thing, but this one has {', '.join(actions)}",
                "split it into one step per action",
                at="key",
            )
        elif not actions and not has_steps:
            self.add(
                path,
                "the step does nothing: give it one of " + ", ".join(names) + " or nested steps",
                at="key",
            )
        elif actions and has_steps:
            self.add(
                (*path, "steps"),
                f"a {actions[0]} step cannot also hold nested steps",
                "nested steps belong to a group, a for_each or a transaction step",
                at="key",
            )
        action = actions[0] if len(actions) == 1 else None
        for option, owners in self.step_types.options.items():
            if option in raw and action not in owners:
                self.add(
                    (*path, option),
                    f"{option!r} only belongs to {' or '.join(owners)} steps",
                    at="key",
                )
        for key in _FOR_EACH_KEYS:
            if key in raw and "for_each" not in raw:
                self.add((*path, key), f"{key!r} only has a meaning beside for_each", at="key")
        if raw.get("transaction") is True:
            if not has_steps:
                self.add(
                    (*path, "transaction"), "a transaction needs nested sql steps under `steps:`"
                )
            for nested_path, nested in self.walk(raw.get("steps") or [], (*path, "steps")):
                if "steps" not in nested and "sql" not in nested:
                    self.add(nested_path, "only sql steps can run inside a transaction", at="key")
        self.check_connection(path, raw)
        if action is not None:
            self.check_step_type(path, raw, action)
        self.check_thresholds(path, raw)
        self.check_templates(path, raw)

    def node(self, path: tuple[Any, ...]) -> Node:
        node = self.root
        for segment in path:
            node = node.child(segment)
        return node

    def check_step_type(self, path: tuple[Any, ...], raw: Mapping[str, Any], action: str) -> None:
        """The step type's own checks of meaning, on the config it builds."""
        step_type = self.step_types[action]
        node = self.node(path)
        connection = raw.get("connection", self.doc.get("connection"))
        config = step_type.build(node, BuildScope(self.config, connection))
        checks = StepChecks(
            node.origin,
            self.path,
            self.kind,
            self.doc.get("runbook"),
            self.connection_of(raw),
            self.library,
            self.problems,
        )
        step_type.check(config, checks)

    def connection_of(self, raw: Mapping[str, Any]) -> str | None:
        return raw.get("connection") or self.doc.get("connection")

    def check_connection(self, path: tuple[Any, ...], raw: Mapping[str, Any]) -> None:
        name = raw.get("connection")
        known = set(self.config.connections) | {STATE_CONNECTION}
        if isinstance(name, str) and name not in known:
            self.add(
                (*path, "connection"),
                f"unknown connection {name!r}",
                self.known_hint(name, known, "connections"),
            )

    def known_hint(self, name: str, known: set[str], what: str) -> str:
        return known_hint(name, known, what, self.config)

    def check_on_failure(self) -> None:
        on_failure = self.doc.get("on_failure")
        if isinstance(on_failure, Mapping) and isinstance(on_failure.get("runbook"), str):
            call = Call.read(self.root.child("on_failure"), "runbook")
            check_call(self.library, "runbook", call, self.doc.get("runbook"), self.add_at)

    def add_at(self, origin: Origin, message: str, hint: str | None = None) -> None:
        self.problems.append(origin.problem(message, hint))

    def check_thresholds(self, path: tuple[Any, ...], raw: Mapping[str, Any]) -> None:
        thresholds = raw.get("thresholds")
        if not isinstance(thresholds, Mapping):
            return
        for name, spec in thresholds.items():
            if not isinstance(spec, Mapping):
                continue
            warning, critical = spec.get("warning"), spec.get("critical")
            direction = spec.get("direction", "above")
            numbers = all(
                isinstance(v, int | float) and not isinstance(v, bool) for v in (warning, critical)
            )
            if not numbers:
                continue
            if direction == "above" and warning > critical:
                self.add(
                    (*path, "thresholds", name, "warning"),
                    f"warning {warning} is above critical {critical}, so it could never fire",
                    "with direction above (bad when high), warning must be at most critical",
                )
            if direction == "below" and warning < critical:
                self.add(
                    (*path, "thresholds", name, "warning"),
                    f"warning {warning} is below critical {critical}, so it could never fire",
                    "with direction below (bad when low), warning must be at least critical",
                )

    def template_fields(
        self, path: tuple[Any, ...], raw: Mapping[str, Any]
    ) -> Iterator[tuple[tuple[Any, ...], str, bool]]:
        """(path, text, is_expression) for every template or condition in the step itself."""
        for key in ("when", "until"):
            if isinstance(raw.get(key), str):
                yield (*path, key), raw[key], True
        if isinstance(raw.get("for_each"), str):
            yield (*path, "for_each"), raw["for_each"], True
        for index, item in enumerate(
            raw.get("assert") or [] if isinstance(raw.get("assert"), list) else []
        ):
            if isinstance(item, str):
                yield (*path, "assert", index), item, True
            elif isinstance(item, Mapping) and isinstance(item.get("that"), str):
                yield (*path, "assert", index, "that"), item["that"], True
        thresholds = raw.get("thresholds")
        if isinstance(thresholds, Mapping):
            for name, spec in thresholds.items():
                if isinstance(spec, Mapping):
                    for key in ("warning", "critical"):
                        if isinstance(spec.get(key), str):
                            yield (*path, "thresholds", name, key), spec[key], False
                    if isinstance(spec.get("value"), str):
                        yield (*path, "thresholds", name, "value"), spec["value"], True
        for key in _TEMPLATE_KEYS:
            if key in raw:
                yield from _strings((*path, key), raw.get(key))
        for key, step_type in self.step_types.templated.items():
            if key in raw:
                for node in step_type.templates(key, self.node((*path, key))):
                    yield node.path, node.value, False

    def check_templates(self, path: tuple[Any, ...], raw: Mapping[str, Any]) -> None:
        loop_names = self.loop_names(path)
        for field_path, text, expression in self.template_fields(path, raw):
            if not expression and not templates.is_template(text):
                continue
            error = templates.syntax_error(text, expression)
            if error:
                message, line = error
                kind = "expression" if expression else "template"
                multi_line = "\n" in text.rstrip("\n")
                offset = line if (multi_line and line) else 0
                self.add(
                    field_path,
                    f"{kind} syntax error: {message}",
                    "check the Jinja {{ }} / {% %} pairs",
                    line_offset=offset,
                )
                continue
            names = templates.referenced_names(text, expression)
            if field_path[len(path)] in ("assert", "until", "thresholds"):
                continue  # the step's own result fields and columns are names there
            allowed = _CONTEXT_NAMES | loop_names
            for name in sorted(names - allowed):
                self.add(
                    field_path,
                    f"unknown name {name!r} in {'expression' if expression else 'template'}",
                    "names available: inputs, steps, env, vars, now, run"
                    + (", " + ", ".join(sorted(loop_names)) if loop_names else ""),
                )

    def loop_names(self, path: tuple[Any, ...]) -> set[str]:
        """`as` names of every for_each that encloses (or is) the step at `path`."""
        names = set()
        node: Any = self.doc
        for segment in path:
            if isinstance(node, Mapping | list):
                try:
                    node = node[segment]
                except (KeyError, IndexError, TypeError):
                    break
                if isinstance(node, Mapping) and "for_each" in node:
                    names.add(str(node.get("as", "item")))
        if self.kind == "check":
            names.add("check")
        return names

    def check_references(
        self, path: tuple[Any, ...], raw: Mapping[str, Any], earlier: set[str]
    ) -> None:
        for field_path, text, _ in self.template_fields(path, raw):
            for match in _STEP_REF.finditer(text):
                ref = match.group(1) or match.group(2)
                if ref in earlier:
                    continue
                if ref in self.ids:
                    self.add(
                        field_path,
                        f"step {ref!r} is used before it runs",
                        "a step can only read the results of steps above it",
                    )
                else:
                    self.add(
                        field_path,
                        f"no step with id {ref!r}",
                        self.known_hint(ref, set(self.ids), "step ids"),
                    )
            for match in _INPUT_REF.finditer(text):
                ref = match.group(1) or match.group(2)
                if ref not in self.inputs:
                    self.add(
                        field_path,
                        f"unknown input {ref!r}",
                        self.known_hint(ref, set(self.inputs), "inputs")
                        if self.inputs
                        else "declare it under `inputs:`",
                    )


def _strings(path: tuple[Any, ...], value: Any) -> Iterator[tuple[tuple[Any, ...], str, bool]]:
    if isinstance(value, str):
        yield path, value, False
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings((*path, key), item)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings((*path, index), item)


def meaning(
    document: Mapping[str, Any],
    kind: str,
    display: str,
    path: Path,
    library: Catalog,
    step_types: StepTypes,
) -> list[Problem]:
    return _Checker(document, kind, display, path, library, step_types).run()
