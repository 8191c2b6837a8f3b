"""Template filters for what APIs hand a runbook: signatures and timestamps.

- `hmac_sha256(key)`: the base64 HMAC-SHA256 of the text with `key`, the signature
  Shopify (`X-Shopify-Hmac-Sha256`), and many webhook senders, put on a request's raw
  body: `{{ body | hmac_sha256(env.SHOPIFY_API_SECRET) }}`. The key and the signature
  are registered as the run's secrets (masked in output, history and notifications)
  wherever the run renders the template (a step's keys, a var, a title, a hint, a
  confirm question), whatever the key's source.
- `minutes_since`: how many minutes before the run's `now` an ISO 8601 timestamp lies
  (`{{ json.jobs[0].started_at | minutes_since }}`), the age an API reports as a
  moment; a timestamp without an offset is UTC; none stays none.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from jinja2 import pass_context

from runner.base.errors import TemplateError

#: The scope's name of a callable that registers a secret value with the run's masker
#: (the run's scope holds it, engine/walker.py; steps/context.py adds it to a step's).
ON_SECRET = "__on_secret__"


@pass_context
def hmac_sha256(context: Any, text: Any, key: Any) -> str:
    if not isinstance(key, str) or not key:
        raise TemplateError("hmac_sha256 needs a key: text | hmac_sha256(env.SECRET_NAME)")
    data = text if isinstance(text, bytes) else str(text).encode()
    import base64  # only where a runbook signs something: not on every run's path
    import hashlib
    import hmac

    digest = hmac.new(key.encode(), data, hashlib.sha256).digest()
    signature = base64.b64encode(digest).decode()
    register = context.get(ON_SECRET)
    if register is not None:
        register(key)
        register(signature)
    return signature


@pass_context
def minutes_since(context: Any, moment: Any) -> float | None:
    if moment is None:
        return None
    if isinstance(moment, datetime):
        when = moment
    else:
        try:
            when = datetime.fromisoformat(str(moment).strip())
        except ValueError:
            raise TemplateError(
                f"minutes_since needs an ISO 8601 timestamp such as 2026-01-31T08:00:00Z, "
                f"got {str(moment)[:60]!r}"
            ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = context.get("now")
    if not isinstance(now, datetime):
        now = datetime.now(UTC)
    elif now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return round((now - when).total_seconds() / 60, 1)
