"""The scheduler's look for late runbooks: at most once a minute, every scheduled runbook
whose notify policy has `late:` tags is checked against its runs in the state store, and
a change is announced (runner/alerts/late.py). The notifier is loaded only when some
runbook routes `late:`; nothing here raises into the scheduler's loop."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from runner.base.errors import RunbookError

if TYPE_CHECKING:
    from runner.language.model import Runbook
    from runner.schedule.cron import CronSchedule
    from runner.service.runs import RunService

#: How often the scheduler looks for late runbooks.
LOOK_EVERY = timedelta(seconds=60)


class LateWatch:
    """Looks for late runbooks on the scheduler's ticks, at most every LOOK_EVERY."""

    def __init__(self, service: RunService, log: Callable[[str], None]) -> None:
        self.service = service
        self.log = log
        self.looked: datetime | None = None
        self._notifier: Any = None

    def look(self, now: datetime, watched: Iterable[tuple[Runbook, CronSchedule]]) -> None:
        if self.looked is not None and abs(now - self.looked) < LOOK_EVERY:
            return
        self.looked = now
        config = self.service.config
        if not config.notifications:
            return
        from runner.alerts.announce import runbook_policy

        chosen = [(model, cron) for model, cron in watched if runbook_policy(model, config).late]
        if not chosen:
            return
        try:
            from runner.alerts.late import announce_lateness

            if self._notifier is None:
                from runner.notifiers.services import load_notifier

                self._notifier = load_notifier(config)
            with self.service.open_store() as store:
                sent = announce_lateness(chosen, config, store, self._notifier, now)
        except RunbookError as error:
            self.log(f"late runbooks not looked for: {error.format_message()}")
            return
        for item in sent:
            said = "sent" if item["ok"] else f"not sent ({item.get('error')})"
            self.log(f"{item['runbook']}: {item['kind']} {said} to {item.get('url')}")
