"""The `notify` step: a message to tags, now.

It goes through the same delivery path as alerts (runner/notifiers/deliver.py): Apprise,
bounded attempts and timeout, every delivery recorded with the run. A message that
reaches nobody does not fail the step: the run's status says how the system is,
not whether a chat service was up. The failure is in the step's values, in the
run's notifications and in history.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from runner.base.errors import StepError
from runner.base.status import Status
from runner.language.model import Origin
from runner.language.nodes import freeze
from runner.language.steptypes import BuildScope, StepConfig
from runner.notifiers.deliver import Message, deliver
from runner.steps.base import StepType

if TYPE_CHECKING:
    from runner.language.model import Step
    from runner.language.nodes import Node
    from runner.steps.context import StepContext


class NotifyConfig(StepConfig, frozen=True):
    """A message as written: tags, title and body (templates unrendered)."""

    to: Any  # a tag, "ops, oncall", or a tuple of tags; None when not given
    origin: Origin
    title: str | None = None  # None: the step's title
    body: str | None = None
    to_origin: Origin | None = None  # None when `to:` is not written


class NotifyStep(StepType):
    name = "notify"
    schema = {"notify": {"$ref": "#/$defs/step_notify"}}
    definitions = {
        "step_notify": {
            "title": "Notification",
            "type": "object",
            "additionalProperties": False,
            "required": ["to"],
            "description": "Send a message now.",
            "properties": {
                "to": {
                    "$ref": "#/$defs/tags",
                    "description": "Apprise tags to send the message to.",
                },
                "title": {"type": "string", "description": "Template of the title."},
                "body": {"type": "string", "description": "Template of the body."},
            },
        }
    }

    def build(self, node: Node, scope: BuildScope) -> NotifyConfig:
        notify = node.child("notify")
        to = notify.at("to")
        return NotifyConfig(
            freeze(notify.get("to")),
            notify.origin,
            freeze(notify.get("title")),
            freeze(notify.get("body")),
            to.origin if to is not None else None,
        )

    def tags(self, config: NotifyConfig) -> Iterable[tuple[Origin, Any]]:
        return [(config.to_origin, config.to)] if config.to_origin is not None else []

    def run(self, step: Step, ctx: StepContext) -> dict[str, Any]:
        message = _message(step, ctx)
        if ctx.mode == "rehearse":
            return {**message, "skipped": True, "reason": "a rehearsal sends no messages"}
        if ctx.deliveries is None:  # not inside a run that records what it sends
            ctx.log(f"notify {', '.join(message['to'])}: {message['title']}")
            return {**message, "sent": False, "reason": "notifications are not configured yet"}
        if ctx.notifier is None:
            ctx.log(f"notify {', '.join(message['to'])} (not sent): {message['title']}")
            return {
                **message,
                "sent": False,
                "reason": "notifications are not configured in runner.yaml",
            }
        run = ctx.scope.get("run") or {}
        deliveries = deliver(
            Message(
                "message",
                step.id,
                Status.OK,
                tuple(message["to"]),
                message["title"],
                message["body"],
            ),
            ctx.notifier,
            run_id=run.get("id"),
            runbook=run.get("runbook"),
        )
        ctx.deliveries.extend(deliveries)  # the run service records them with the run
        failed = [item for item in deliveries if not item["ok"]]
        for item in failed:
            ctx.log(
                f"notify {', '.join(item['tags'])}: not delivered to {item['url']}: {item['error']}"
            )
        return {
            **message,
            "sent": any(item["ok"] for item in deliveries),
            "delivered": sum(1 for item in deliveries if item["ok"]),
            "failed": len(failed),
        }

    def describe(self, step: Step, ctx: StepContext) -> dict[str, Any]:
        return _message(step, ctx)


def _message(step: Step, ctx: StepContext) -> dict[str, Any]:
    config: NotifyConfig = step.config
    if not config.to:
        raise StepError("notify needs a mapping such as {to: oncall, title: ..., body: ...}")
    tags = ctx.render(config.to)
    if isinstance(tags, str):
        tags = tags.split(",")  # "ops, oncall" as Apprise writes it
    if not isinstance(tags, list | tuple):
        raise StepError("notify to: must be a tag or a list of tags")
    to = [str(tag).strip() for tag in tags if str(tag).strip()]
    if not to:
        raise StepError("notify to: names no tag")
    title = ctx.render(step.label if config.title is None else config.title)
    body = ctx.render("" if config.body is None else config.body)
    return {"to": to, "title": str(title), "body": str(body)}
