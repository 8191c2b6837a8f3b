"""The `notify` step: a message to tags, now.

Delivery comes with the notifications work; until then the step renders and logs
the message and says plainly that nothing was sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .base import StepError

if TYPE_CHECKING:
    from ..model import Step
    from .context import StepContext


class NotifyStep:
    name = "notify"

    def run(self, step: Step, ctx: StepContext) -> dict[str, Any]:
        message = _message(step, ctx)
        ctx.log(f"notify {', '.join(message['to'])}: {message['title']}")
        return {**message, "sent": False, "reason": "notifications are not configured yet"}

    def describe(self, step: Step, ctx: StepContext) -> dict[str, Any]:
        return _message(step, ctx)


def _message(step: Step, ctx: StepContext) -> dict[str, Any]:
    config = step.config
    if not isinstance(config, Mapping) or not config.get("to"):
        raise StepError("notify needs a mapping such as {to: oncall, title: ..., body: ...}")
    tags = ctx.render(config["to"])
    if isinstance(tags, str):
        tags = tags.split(",")  # "ops, oncall" as Apprise writes it
    if not isinstance(tags, list | tuple):
        raise StepError("notify to: must be a tag or a list of tags")
    to = [str(tag).strip() for tag in tags if str(tag).strip()]
    if not to:
        raise StepError("notify to: names no tag")
    title = ctx.render(config.get("title", step.label))
    body = ctx.render(config.get("body", ""))
    return {"to": to, "title": str(title), "body": str(body)}
