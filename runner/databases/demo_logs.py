"""The order processor's log files beside the orders demo database: `logs/` next to
`orders.db` (var/demo/logs/ with runner.yaml's connection), one file a day named
`woo_order_processing_YYYYMMDD.log` as in the seeds ("Log locations"), over 60 days.

They tell the demo database's story (demo_orders.py): the processor ran every 15
minutes, with the odd transient "Timeout expired" or "Connection failed" on some days;
over the last 7 days (all that USER_SYNC_LOG holds, demo_orders.HISTORY_DAYS) its lines
are those of USER_SYNC_LOG, run by run, ending with the database outage and the last
failed run about 70 minutes before `now`, after which the scheduled task wrote
nothing. Each file's modification time is its last line's, so
`older_than: 30d` finds the month-old ones and the newest file is today's (or, just
after midnight, yesterday's). Times are UTC, as in the database.

`build_order_logs(folder, now)` writes the folder; `ensure_demo` (demo.py) calls it
whenever it builds the orders database, so a demo reset that deletes the database and
calls `ensure_demo` again gets logs for the same `now`; it also calls
`ensure_order_logs` when the database exists but its logs folder does not. The folder
is written in a scratch folder beside it and renamed into place when complete: a
failure or crash leaves the old folder (or none), never a half-written one.
"""

from __future__ import annotations

import os
import random
import secrets
import shutil
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from runner.base.clock import naive_utc

LOG_PREFIX = "woo_order_processing_"
LOG_DAYS = 60
RUN_EVERY = timedelta(minutes=15)
RANDOM_SEED = 20260103
LINE_TIME = "%Y-%m-%d %H:%M:%S"
#: The transient errors of the seed ("Logs show 'Connection failed' or 'Timeout'").
SPORADIC_ERRORS = (
    "Timeout expired: lock request time out period exceeded on IM_INV",
    "Connection failed: [08S01] Communication link failure",
    "Timeout expired: sp_ValidateStagedOrder did not complete within 30 seconds",
)


def ensure_order_logs(folder: Path, now: datetime | None = None) -> bool:
    """Write the demo's logs folder unless it exists; True when this call wrote it."""
    if folder.is_dir():
        return False
    return build_order_logs(folder, now, replace=False)


def build_order_logs(folder: Path, now: datetime | None = None, replace: bool = True) -> bool:
    """Write the processor's logs for `now` (a naive UTC datetime; default: now) into
    `folder`, atomically. With `replace`, an existing folder is swapped for the new one
    (a demo reset); without, a folder that appeared meanwhile wins and this call
    returns False."""
    moment = naive_utc(now)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tag = f"{os.getpid()}.{secrets.token_hex(4)}"
    scratch = folder.with_name(f".{folder.name}.{tag}.building")
    old = folder.with_name(f".{folder.name}.{tag}.old")
    try:
        scratch.mkdir()
        for name, lines, last in _daily_logs(moment):
            path = scratch / name
            path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
            stamp = (last - datetime(1970, 1, 1)).total_seconds()
            os.utime(path, (stamp, stamp))
        if replace and folder.exists():
            folder.rename(old)
        try:
            scratch.rename(folder)
        except OSError:
            if folder.is_dir():  # another process put its folder in place first
                return False
            raise
        return True
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)


def _daily_logs(now: datetime) -> list[tuple[str, list[str], datetime]]:
    """(file name, lines, time of the last line) for each day with a run, oldest first."""
    from runner.databases.demo_orders import order_rows

    recent = [
        _Run.of_row(row) for row in order_rows(now)["USER_SYNC_LOG"] if row[1] == "order_processing"
    ]
    rng = random.Random(RANDOM_SEED)
    first_recent = min(run.start for run in recent)
    runs = []
    moment = first_recent - RUN_EVERY
    since = now - timedelta(days=LOG_DAYS)
    while moment >= since:
        error = rng.choice(SPORADIC_ERRORS) if rng.random() < 1 / 150 else None
        orders = 0 if error else rng.choice((0, 0, 0, 0, 1, 1, 2))
        runs.append(_Run(moment, error, orders, 0, 1 + 3 * orders + rng.randint(0, 2)))
        moment -= RUN_EVERY
    by_day: dict[str, list[_Run]] = defaultdict(list)
    for run in sorted(runs + recent, key=lambda run: run.start):
        by_day[run.start.strftime("%Y%m%d")].append(run)
    logs = []
    for day, day_runs in sorted(by_day.items()):
        lines = [line for run in day_runs for line in run.lines()]
        logs.append((f"{LOG_PREFIX}{day}.log", lines, day_runs[-1].end))
    return logs


class _Run:
    """One run of the processor, as its log tells it."""

    def __init__(
        self, start: datetime, error: str | None, applied: int, failed: int, seconds: int
    ) -> None:
        self.start, self.error = start, error
        self.applied, self.failed = applied, failed
        self.end = start + timedelta(seconds=seconds)

    @classmethod
    def of_row(cls, row: tuple[Any, ...]) -> _Run:
        # USER_SYNC_LOG: LOG_ID, OPERATION_TYPE, START_TIME, END_TIME, RECORDS_PROCESSED,
        # RECORDS_FAILED, SUCCESS, ERROR_MESSAGE (times as demo_orders.TIME_FORMAT text)
        start = datetime.strptime(row[2], LINE_TIME)
        end = datetime.strptime(row[3], LINE_TIME) if row[3] else start
        return cls(start, row[7], row[4], row[5], int((end - start).total_seconds()))

    def lines(self) -> list[str]:
        at, done = self.start.strftime(LINE_TIME), self.end.strftime(LINE_TIME)
        out = [f"{at} INFO Order processing started (scheduled task, smart check)"]
        if self.error is not None:
            out.append(f"{done} ERROR {self.error}")
            out.append(f"{done} ERROR Order processing failed after {self.seconds} s")
            return out
        if self.applied or self.failed:
            out.append(f"{at} INFO {self.applied + self.failed} pending orders in staging")
        if self.failed:
            out.append(f"{done} WARNING {self.failed} orders failed validation")
        out.append(
            f"{done} INFO Order processing finished: {self.applied} applied, "
            f"{self.failed} failed in {self.seconds} s"
        )
        return out

    @property
    def seconds(self) -> int:
        return int((self.end - self.start).total_seconds())
