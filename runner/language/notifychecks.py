"""The checks of a runbook's notifications, run by the checks of meaning (meaning.py):
its notify: and each step's alert: policy parse (`after:`) and their title and body
templates compile, alert: routes only a top-level step, and every tag they and the
notify steps name is one runner.yaml routes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from runner.base.errors import InvalidInput
from runner.language import templates
from runner.language.model import NotifyPolicy, Origin, Runbook, Step
from runner.language.nodes import plain
from runner.language.policy import TAG_KEYS, parse_after, parse_escalations, tag_list
from runner.language.steptypes import Catalog, StepDeclaration, StepTypes, known_hint

#: add(origin, message, hint, at): how the check of meaning (meaning.py) records a problem
Add = Callable[..., None]


def check_notifications(
    runbook: Runbook,
    steps: Sequence[tuple[Step, bool]],
    catalog: Catalog,
    step_types: StepTypes[StepDeclaration],
    add: Add,
) -> None:
    """Policies that parse, templates that compile, and tags runner.yaml routes. `steps`:
    every step of the runbook, with whether it is a top-level step of `steps:` (the only
    ones an alert: may route)."""
    policies: list[NotifyPolicy] = []
    if runbook.notify is not None:
        policies.append(runbook.notify)
    for step, routable in steps:
        alert = step.alert
        if alert is not None:
            if not routable:
                add(
                    step.keys["alert"],
                    "alert: only routes a top-level step",
                    "move it to the top-level step that holds this one, or to the runbook's "
                    "notify:",
                    at="key",
                )
            policies.append(alert)
    uses: list[tuple[Origin, Any]] = []
    for policy in policies:
        check_policy(policy, add)
        for key in TAG_KEYS:
            if key in policy:
                uses.append((policy.origins[key], policy[key]))
        if "escalate.to" in policy.origins:
            uses.append((policy.origins["escalate.to"], policy["escalate"]["to"]))
        ladder = policy.get("escalate")
        for index, stage in enumerate(ladder if isinstance(ladder, (list, tuple)) else ()):
            origin = policy.origins.get(f"escalate[{index}].to")
            if origin is not None:
                uses.append((origin, stage["to"]))
    for step, _ in steps:
        step_type = step_types.get(step.action)
        if step_type is not None and step.config is not None:
            uses.extend(step_type.tags(step.config))
    if uses:
        check_tags(uses, catalog, add)


def check_policy(policy: NotifyPolicy, add: Add) -> None:
    """A notify: or alert: policy's `after:` parses, its title and body compile."""
    if "after" in policy:
        try:
            parse_after(plain(policy["after"]))
        except ValueError as error:
            add(policy.origins["after"], str(error))
    if "escalate" in policy:
        try:
            parse_escalations(plain(policy["escalate"]))
        except ValueError as error:
            add(policy.origins["escalate"], str(error))
    for key in ("title", "body"):
        text = policy.get(key)
        if isinstance(text, str):
            syntax = templates.syntax_error(text, False)
            if syntax:
                add(policy.origins[key], f"template syntax error: {syntax[0]}")


def check_tags(uses: list[tuple[Origin, Any]], catalog: Catalog, add: Add) -> None:
    """Each tag in `uses` (where it was written, what was written) is one runner.yaml
    routes; a template is known only when it runs."""
    try:
        known = catalog.known_tags()
    except InvalidInput as error:
        first = error.problems[0]
        add(
            uses[0][0],
            f"cannot check notification tags: {first.format()}",
            "fix the notifications section of runner.yaml first",
        )
        return
    if known is None:
        return  # nothing configured: nothing to check against (the run says so)
    for origin, value in uses:
        if isinstance(value, str) and templates.is_template(value):
            continue
        try:
            tags = tag_list(value)
        except TypeError:
            continue  # not tags at all: the schema says so
        for tag in tags:
            if tag not in known:
                add(
                    origin,
                    f"unknown notification tag {tag!r}",
                    known_hint(tag, set(known), "tags", catalog.config)
                    if known
                    else f"give it URLs under notifications.urls in {catalog.config.display_path}",
                )
