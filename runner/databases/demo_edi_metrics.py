"""The EDI processor's metrics database (seed 002's metrics/edi_metrics.db), as its demo
keeps it: `processing_metrics`, one row per file processed, 95 days of a healthy history
(a file every 30 minutes, one in ten at the P95 time, one in 150 failed with E002 or E003).

It is the `edi_metrics` connection's demo (`demo: edi_metrics` in runner.yaml), built on
its first use, by `runbook demo reset edi_metrics` and by `runbook demo serve edi`, which
then writes the last hour's rows for the faults it is switched into (runner/demos/).
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from typing import Any

DAY = 86400.0
HISTORY_DAYS = 95  # the weekly clean-up keeps 90
PARTNERS = ("ACME", "BIGBOX", "NORTHWIND", "GLOBEX")
SETS = ("850", "810", "856", "997")

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS processing_metrics ("
    " id INTEGER PRIMARY KEY, file_name TEXT NOT NULL, transaction_set TEXT NOT NULL,"
    " partner TEXT NOT NULL, received_at TEXT NOT NULL, processed_at TEXT NOT NULL,"
    " duration_ms INTEGER NOT NULL, status TEXT NOT NULL, error_code TEXT)",
    "CREATE INDEX IF NOT EXISTS idx_metrics_processed ON processing_metrics (processed_at)",
)
INSERT = (
    "INSERT INTO processing_metrics (file_name, transaction_set, partner, received_at,"
    " processed_at, duration_ms, status, error_code) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


def build_edi_metrics(connection: sqlite3.Connection, now: datetime) -> None:
    """The schema and HISTORY_DAYS of history up to an hour before `now` (naive UTC)."""
    end = now.replace(tzinfo=UTC).timestamp()
    rows = []
    moment = end - HISTORY_DAYS * DAY
    n = 0
    while moment < end - 3600:
        seconds = 3.2 if n % 10 == 9 else 1.4
        error = ("E002", "E003")[n % 2] if n % 150 == 0 else None
        rows.append(metric_row(n, moment, seconds, error))
        moment += 1800
        n += 1
    for statement in SCHEMA:
        connection.execute(statement)
    connection.executemany(INSERT, rows)
    connection.commit()


def metric_row(n: int, moment: float, seconds: float, error: str | None) -> tuple[Any, ...]:
    """The row of INSERT for the n-th file, done at `moment` after `seconds`, failed with
    the code `error` (None: processed)."""
    return (
        file_name(n, moment),
        SETS[n % len(SETS)],
        PARTNERS[n % len(PARTNERS)],
        stamp(moment - seconds),
        stamp(moment),
        int(seconds * 1000),
        "failed" if error else "processed",
        error,
    )


def stamp(moment: float) -> str:
    """As SQLite's datetime() writes it, so `processed_at >= datetime('now', '-1 hour')`."""
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d %H:%M:%S")


def file_name(n: int, moment: float) -> str:
    """An EDI file's name: set, partner, day, sequence (850_ACME_20261201_000042.x12)."""
    partner = PARTNERS[n % len(PARTNERS)]
    kind = SETS[n % len(SETS)]
    return f"{kind}_{partner}_{datetime.fromtimestamp(moment, UTC):%Y%m%d}_{n:06d}.x12"
