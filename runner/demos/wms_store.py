"""The wms demo's database and files: where they are, the data faults put into them, the
numbers /metrics reads from them, and the stuck query of `stuck-queries`.

The database is runner.yaml's `wms` connection: PostgreSQL through ODBC when it is one
(the tables are made on first use, databases/demo_wms.py), else its SQLite file (built
like the order demo); with no such connection, `wms.db` in the demo's folder. The demo
and the runbooks so read and change the same rows: switching `low-stock` on makes the
rows low that the runbooks' SQL then finds.
"""

from __future__ import annotations

import atexit
import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from runner.databases.demo_wms import DATA_FAULTS, apply_data_faults, write_logs
from runner.demos.base import DemoState

#: What the stuck query calls itself in pg_stat_activity, and how long it sleeps at most.
STUCK_APPLICATION = "wms-celery-worker"
STUCK_SQL = "SELECT pg_sleep(300) /* wms: stock valuation report */"


class WmsStore:
    """The demo's database (SQLite or PostgreSQL) and its folder, for one running demo."""

    def __init__(self, state: DemoState) -> None:
        self.state = state
        spec = state.config.connections.get("wms") if state.config is not None else None
        self.odbc: str | None = None
        self.sqlite = state.root / "wms.db"
        if spec is not None and spec.kind == "odbc":
            self.odbc = spec.resolve()[0]
        elif spec is not None:
            self.sqlite = Path(spec.resolve()[0])
        self.lock = threading.Lock()
        self.applied: frozenset[str] | None = None  # the data faults the rows are in
        self.logged: frozenset[str] | None = None  # the faults today's log was written for
        self.stuck: _StuckQuery | None = None
        (state.root / "backups").mkdir(parents=True, exist_ok=True)  # where wms-backup writes
        if not (state.root / "logs").is_dir():  # on PostgreSQL: no demo files were made
            write_logs(state.root / "logs", self.now(), frozenset())

    @property
    def is_postgres(self) -> bool:
        return self.odbc is not None

    @contextlib.contextmanager
    def connect(self) -> Iterator[Any]:
        """A connection of the demo's own (sqlite3 or pyodbc), its demo built first."""
        if self.odbc is not None:
            import pyodbc

            from runner.databases.demo import ensure_odbc_demo

            db = pyodbc.connect(self.odbc, autocommit=True, timeout=5)
            try:
                ensure_odbc_demo("wms", self.odbc, db)
                yield db
            finally:
                db.close()
        else:
            from runner.databases.demo import ensure_demo

            ensure_demo("wms", self.sqlite)
            with contextlib.closing(sqlite3.connect(self.sqlite, timeout=5)) as db:
                yield db

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.state.clock(), UTC)

    def sync(self) -> None:
        """Bring the rows, today's log and the stuck query in line with the faults now on
        (done on each request; nothing to do while the faults stay the same)."""
        faults = self.state.faults
        with self.lock:
            if faults != self.logged:
                write_logs(self.state.root / "logs", self.now(), faults, history=False)
                self.logged = faults
            data = frozenset(faults & set(DATA_FAULTS))
            try:
                if data != self.applied:
                    with self.connect() as db:
                        if self.odbc is not None:
                            db.autocommit = False
                        apply_data_faults(db, data, self.now(), sqlite=self.odbc is None)
                        db.commit()
                    self.applied = data
                self._sync_stuck("stuck-queries" in faults)
            except Exception:  # the database is down: /health says so; tried again next time
                return

    def _sync_stuck(self, wanted: bool) -> None:
        if self.odbc is None:
            return  # pg_stat_activity is PostgreSQL's: on SQLite the fault does nothing
        if wanted and self.stuck is None:
            self.stuck = _StuckQuery(self.odbc)
        elif not wanted and self.stuck is not None:
            self.stuck.stop()
            self.stuck = None

    def rows(self, sql: str) -> list[tuple[Any, ...]]:
        with self.lock, self.connect() as db:
            return [tuple(row) for row in db.execute(sql).fetchall()]

    def stock(self) -> list[tuple[int, int, int]]:
        """(warehouse_id, product_id, quantity) of every stock row."""
        found = self.rows("SELECT warehouse_id, product_id, quantity FROM wms_stock")
        return [(int(w), int(p), int(q)) for w, p, q in found]

    def expiry_warnings(self) -> dict[str, int]:
        """Batches in stock expiring within 7 days (critical) and within 30 (warning)."""
        today = self.now().date()
        counts = {"critical": 0, "warning": 0}
        for (expiry,) in self.rows("SELECT expiry_date FROM wms_batches WHERE quantity > 0"):
            day = expiry if isinstance(expiry, date) else date.fromisoformat(str(expiry)[:10])
            left = (day - today).days
            if left <= 7:
                counts["critical"] += 1
            elif left <= 30:
                counts["warning"] += 1
        return counts

    def database_ok(self) -> bool:
        try:
            self.rows("SELECT 1")
        except Exception:  # the driver's or sqlite3's: /health says unhealthy
            return False
        return True

    def close(self) -> None:
        with self.lock:
            self._sync_stuck(False)


class _StuckQuery:
    """A connection of its own running pg_sleep, as a hung report would, until the
    fault is switched off or someone ends it with pg_terminate_backend."""

    def __init__(self, odbc: str) -> None:
        import pyodbc

        self.db = pyodbc.connect(odbc, autocommit=True, timeout=5)
        self.db.execute("SELECT set_config('application_name', ?, false)", STUCK_APPLICATION)
        self.pid = int(self.db.execute("SELECT pg_backend_pid()").fetchone()[0])
        self.cursor = self.db.cursor()
        self.thread = threading.Thread(target=self._run, name="wms-stuck-query", daemon=True)
        self.thread.start()
        atexit.register(self.stop)  # `runbook demo serve` stopped: the server's query too

    def _run(self) -> None:
        with contextlib.suppress(Exception):  # ended by pg_terminate_backend or cancel
            self.cursor.execute(STUCK_SQL)

    def stop(self) -> None:
        atexit.unregister(self.stop)
        with contextlib.suppress(Exception):
            self.cursor.cancel()
        self.thread.join(timeout=10)
        with contextlib.suppress(Exception):
            self.db.close()
