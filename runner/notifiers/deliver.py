"""One message sent through the configured Apprise services, every delivery kept as a row.

Used by the alerts after a run and by the notify step during one. Nothing here raises
at send time: a failing or hanging service costs a delivery row with its error.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from runner.base.clock import utc_text
from runner.base.status import Status
from runner.base.structs import Struct

if TYPE_CHECKING:
    from runner.notifiers.services import Notifier, Outcome


class Message(Struct):
    """One message, rendered: what it is about, its title and markdown body, its tags."""

    kind: str
    subject: str
    status: Status
    tags: tuple[str, ...]
    title: str
    body: str
    level: str = "info"


def deliver(
    message: Message,
    notifier: Notifier,
    *,
    run_id: str | None,
    runbook: str | None,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Send one message through the notifier; the deliveries as rows for the state store."""
    outcomes = notifier.send(message.title, message.body, message.tags, level=message.level)
    at = now or datetime.now(UTC)
    title = notifier.masker.mask_text(message.title)
    return [_delivery(message, outcome, run_id, runbook, title, at) for outcome in outcomes]


def _delivery(
    message: Message,
    outcome: Outcome,
    run_id: str | None,
    runbook: str | None,
    title: str,
    at: datetime,
) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "runbook": runbook,
        "subject": message.subject,
        "kind": message.kind,
        "status": message.status.value,
        "tags": list(outcome.tags),
        "url": outcome.url,
        "ok": outcome.ok,
        "error": outcome.error,
        "attempts": outcome.attempts,
        "title": title,
        "at": _utc(at),
        "duration": round(outcome.duration, 3),
    }


def _utc(moment: datetime) -> str:
    return utc_text(moment) or ""


#: The fields of a delivery that output shows (docs/output.md); the rest is in history.
SHOWN_FIELDS = (
    "kind", "subject", "status", "tags", "url", "ok", "error", "attempts", "title", "at",
    "duration",
)  # fmt: skip


def shown_deliveries(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{key: row.get(key) for key in SHOWN_FIELDS} for row in rows]


def test_message(tags: tuple[str, ...]) -> Message:
    """What `runbook notify-test` sends: says what it is, from where, and that all is well."""
    import socket

    host = socket.gethostname()
    sent = datetime.now(UTC)
    return Message(
        "test",
        "",
        Status.OK,
        tags,
        f"[TEST] runbook notify-test {', '.join(tags)} from {host}",
        f"This is a test message from **runbook** on {host}, sent "
        f"{sent:%Y-%m-%d %H:%M} UTC to the tag{'s' if len(tags) > 1 else ''} "
        f"{', '.join(tags)}. Nothing is wrong: if you read this, alerts reach you.",
        "info",
    )
