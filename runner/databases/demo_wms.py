"""The warehouse system's demo database (seed 003): stock per warehouse and product,
batches with their expiry dates, and the users whose last login the monthly review reads.

The same tables on SQLite (`wms: {sqlite: var/demo/wms.db, demo: wms}`, built like the
order demo by demo.py) and on PostgreSQL through ODBC (`wms: {odbc: ..., demo: wms}`,
built in place by `ensure_wms_odbc` when the tables are missing). The names start with
`wms_`, so the tables sit beside others in a shared database. The data is relative to
`now` and healthy: every product above its reorder level, no batch expiring within 30
days, every user seen this month. The demo server (runner/demos/wms.py) switches the
data faults on and off with `apply_data_faults`: `low-stock`, `expiring`, `stale-accounts`.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from runner.base.clock import naive_utc

WMS_SCHEMA = (
    """
CREATE TABLE wms_warehouses (
    warehouse_id  INTEGER PRIMARY KEY,
    code          VARCHAR(20) NOT NULL,
    name          VARCHAR(100) NOT NULL
)""",
    """
CREATE TABLE wms_products (
    product_id     INTEGER PRIMARY KEY,
    sku            VARCHAR(40) NOT NULL,
    name           VARCHAR(200) NOT NULL,
    reorder_level  INTEGER NOT NULL
)""",
    """
CREATE TABLE wms_stock (
    warehouse_id  INTEGER NOT NULL REFERENCES wms_warehouses (warehouse_id),
    product_id    INTEGER NOT NULL REFERENCES wms_products (product_id),
    quantity      INTEGER NOT NULL,
    reserved      INTEGER NOT NULL,
    updated_at    TIMESTAMP NOT NULL,
    PRIMARY KEY (warehouse_id, product_id)
)""",
    """
CREATE TABLE wms_batches (
    batch_id      INTEGER PRIMARY KEY,
    warehouse_id  INTEGER NOT NULL REFERENCES wms_warehouses (warehouse_id),
    product_id    INTEGER NOT NULL REFERENCES wms_products (product_id),
    batch_no      VARCHAR(40) NOT NULL,
    quantity      INTEGER NOT NULL,
    expiry_date   DATE NOT NULL
)""",
    """
CREATE TABLE wms_users (
    user_id     INTEGER PRIMARY KEY,
    username    VARCHAR(60) NOT NULL,
    role        VARCHAR(20) NOT NULL,
    is_active   SMALLINT NOT NULL,
    last_login  TIMESTAMP
)""",
)

#: The tables in the order they are filled (parents first) and their columns.
WMS_COLUMNS: dict[str, tuple[str, ...]] = {
    "wms_warehouses": ("warehouse_id", "code", "name"),
    "wms_products": ("product_id", "sku", "name", "reorder_level"),
    "wms_stock": ("warehouse_id", "product_id", "quantity", "reserved", "updated_at"),
    "wms_batches": (
        "batch_id",
        "warehouse_id",
        "product_id",
        "batch_no",
        "quantity",
        "expiry_date",
    ),
    "wms_users": ("user_id", "username", "role", "is_active", "last_login"),
}

WAREHOUSES = ((1, "BUD-01", "Budapest central"), (2, "DEB-02", "Debrecen"), (3, "GYR-03", "Győr"))
PRODUCTS = (
    (1, "PAL-EUR-1200", "EUR pallet 1200x800", 40),
    (2, "BOX-60-40", "Carton 600x400x400", 120),
    (3, "FLM-STR-23", "Stretch film 23 my", 30),
    (4, "MLK-UHT-1L", "UHT milk 1 l", 200),
    (5, "YOG-NAT-150", "Natural yoghurt 150 g", 150),
    (6, "CHS-TRP-1KG", "Trappista cheese 1 kg", 60),
    (7, "LBL-A6-500", "Shipping labels A6 x500", 25),
    (8, "GLV-NIT-L", "Nitrile gloves L x100", 35),
)
PERISHABLE = (4, 5, 6)  # the products with batches and expiry dates
USERS = (
    (1, "admin", "admin", 1, 0.1),
    (2, "kovacs.anna", "manager", 1, 0.5),
    (3, "nagy.peter", "warehouse", 1, 1.2),
    (4, "szabo.eva", "warehouse", 1, 2.0),
    (5, "toth.gabor", "warehouse", 1, 6.0),
    (6, "horvath.jozsef", "viewer", 0, 200.0),  # deactivated: not a stale account
)

#: The rows the data faults change (runner/demos/wms.py names the faults).
LOW_STOCK = ((1, 4, 0), (2, 5, 12), (3, 2, 30))  # (warehouse, product, quantity): 1 out, 2 low
EXPIRING = ((1, 3), (5, 10))  # (batch, days left): within 7 days is critical, 30 warning
STALE_USER, STALE_DAYS = 5, 45  # an active account unused for 45 days


def stock_quantity(warehouse_id: int, product_id: int) -> int:
    """A healthy quantity: always above every product's reorder level (at most 200)."""
    reorder = PRODUCTS[product_id - 1][3]
    return reorder + 50 + (warehouse_id * 37 + product_id * 53) % 160


def reserved(warehouse_id: int, product_id: int) -> int:
    """Units of a stock row reserved for open orders (none while `low-stock` empties it)."""
    return (warehouse_id + product_id) % 7


def batch_expiry(batch_id: int, today: date) -> date:
    """A healthy expiry date: 45 days away or more."""
    return today + timedelta(days=45 + (batch_id * 29) % 120)


Rows = dict[str, list[tuple[Any, ...]]]


def wms_rows(now: datetime) -> Rows:
    """Every row of the healthy demo for `now` (naive UTC), dates and times as Python values."""
    moment = naive_utc(now).replace(microsecond=0)
    today = moment.date()
    stock = [
        (w, p, stock_quantity(w, p), reserved(w, p), moment - timedelta(hours=(w * p) % 20))
        for (w, _, _) in WAREHOUSES
        for (p, _, _, _) in PRODUCTS
    ]
    batches: list[tuple[Any, ...]] = []
    for w, code, _ in WAREHOUSES:
        for p in PERISHABLE:
            batch_id = len(batches) + 1
            expiry = batch_expiry(batch_id, today)
            batch_no = f"{code[:3]}-{p:02d}-{expiry:%y%m%d}"
            batches.append((batch_id, w, p, batch_no, 20 + (batch_id * 17) % 80, expiry))
    users = [
        (uid, name, role, active, moment - timedelta(days=days))
        for (uid, name, role, active, days) in USERS
    ]
    return {
        "wms_warehouses": list(WAREHOUSES),
        "wms_products": list(PRODUCTS),
        "wms_stock": stock,
        "wms_batches": batches,
        "wms_users": users,
    }


class _Database(Protocol):
    """What sqlite3 and pyodbc connections both have, as the builders use them."""

    def execute(self, sql: str, params: Sequence[Any], /) -> Any: ...


def _text(value: Any) -> Any:
    """SQLite keeps dates and times as text its date functions read."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    return value


def _converter(sqlite: bool) -> Callable[[Any], Any]:
    return _text if sqlite else (lambda value: value)


def _fill(rows: Rows, sqlite: bool, executemany: Callable[..., Any]) -> None:
    convert = _converter(sqlite)
    for table, columns in WMS_COLUMNS.items():
        marks = ", ".join("?" * len(columns))
        values = [tuple(convert(v) for v in row) for row in rows[table]]
        executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", values)


def build_wms(connection: sqlite3.Connection, now: datetime) -> None:
    """The demo in a new SQLite database (demo.py's builder: it commits)."""
    for statement in WMS_SCHEMA:
        connection.execute(statement)
    _fill(wms_rows(now), True, connection.executemany)


def ensure_wms_odbc(db: Any, now: datetime | None = None, rebuild: bool = False) -> bool:
    """Create and fill the demo's tables on PostgreSQL through `db`, an open pyodbc
    connection in autocommit, unless wms_stock is already there (`rebuild`: drop them
    and build them again); True when this call built them. All in one transaction under
    an advisory lock: concurrent first uses build it once, a failure leaves nothing."""
    import pyodbc

    dbms = str(db.getinfo(pyodbc.SQL_DBMS_NAME)).lower()
    if "postgres" not in dbms:
        raise ValueError(
            "the wms demo is built in a SQLite file (sqlite:) or on PostgreSQL through "
            f"ODBC, not on {dbms or 'this server'} through ODBC"
        )
    db.autocommit = False
    try:
        db.execute("SELECT pg_advisory_xact_lock(hashtext('runbook demo wms'))")
        # A number, not a boolean: psqlODBC answers booleans as the text '0' or '1'.
        found = db.execute(
            "SELECT CASE WHEN to_regclass('wms_stock') IS NULL THEN 0 ELSE 1 END"
        ).fetchone()[0]
        if int(found) and not rebuild:
            db.rollback()
            return False
        for table in reversed(list(WMS_COLUMNS)):  # children first
            db.execute(f"DROP TABLE IF EXISTS {table}")
        for statement in WMS_SCHEMA:
            db.execute(statement)
        _fill(wms_rows(now or datetime.now(UTC)), False, db.cursor().executemany)
        db.commit()
        return True
    except BaseException:
        db.rollback()
        raise
    finally:
        db.autocommit = True


DATA_FAULTS = ("low-stock", "expiring", "stale-accounts")


def apply_data_faults(
    database: _Database, faults: Iterable[str], now: datetime, sqlite: bool
) -> None:
    """Put the rows the data faults change into the faulty or the healthy state, as
    `faults` says (the caller commits). Each is idempotent."""
    convert = _converter(sqlite)
    on = set(faults)
    moment = naive_utc(now).replace(microsecond=0)
    updates: list[tuple[str, Sequence[Any]]] = []
    for w, p, low in LOW_STOCK:
        faulty = "low-stock" in on
        quantity = low if faulty else stock_quantity(w, p)
        updates.append(
            (
                "UPDATE wms_stock SET quantity = ?, reserved = ?, updated_at = ?"
                " WHERE warehouse_id = ? AND product_id = ?",
                (quantity, 0 if faulty else reserved(w, p), convert(moment), w, p),
            )
        )
    for batch, days in EXPIRING:
        expiry = (
            moment.date() + timedelta(days=days)
            if "expiring" in on
            else batch_expiry(batch, moment.date())
        )
        updates.append(
            ("UPDATE wms_batches SET expiry_date = ? WHERE batch_id = ?", (convert(expiry), batch))
        )
    seen = moment - timedelta(days=STALE_DAYS if "stale-accounts" in on else 1)
    updates.append(
        ("UPDATE wms_users SET last_login = ? WHERE user_id = ?", (convert(seen), STALE_USER))
    )
    for sql, params in updates:
        database.execute(sql, params)  # a sequence of values: sqlite3 and pyodbc alike


LOG_DAYS = 40  # dated logs kept in logs/: some older than the 30 days clean-up keeps


def write_logs(folder: Path, now: datetime, faults: frozenset[str], history: bool = True) -> None:
    """The backend's and the Celery worker's dated logs (backend-YYYYMMDD.log, as the
    seed's "Export logs" names them), one a day for LOG_DAYS days, each last written at
    the end of its day; today's has ERROR lines when the API fails. Without `history`,
    today's alone: older ones archived or deleted by maintenance stay so."""
    folder.mkdir(parents=True, exist_ok=True)
    for age in range(LOG_DAYS if history else 1):
        day = now - timedelta(days=age)
        moment = now.timestamp() if age == 0 else (day.replace(hour=23, minute=59)).timestamp()
        for service in ("backend", "celery-worker"):
            path = folder / f"{service}-{day:%Y%m%d}.log"
            if age and path.exists():
                continue
            path.write_text(_log_lines(service, day, faults if age == 0 else frozenset()))
            os.utime(path, (moment, moment))


def _log_lines(service: str, day: datetime, faults: frozenset[str]) -> str:
    stamp = day.strftime("%Y-%m-%dT%H:%M:%S")
    lines = [f'{{"time": "{stamp}", "level": "INFO", "service": "{service}", "msg": "started"}}']
    if service == "backend":
        lines.append(
            f'{{"time": "{stamp}", "level": "INFO", "msg": "HTTP request", '
            '"path": "/api/v1/inventory/stock", "status_code": 200, "duration_ms": 42}'
        )
        if "high-error-rate" in faults or "api-down" in faults:
            for n in range(3):
                lines.append(
                    f'{{"time": "{stamp}", "level": "ERROR", "msg": "HTTP request failed", '
                    f'"path": "/api/v1/movements", "status_code": 500, "request": {n}, '
                    '"error": "database error: connection pool exhausted"}'
                )
    elif "celery-failing" in faults:
        lines.append(
            f'{{"time": "{stamp}", "level": "ERROR", "msg": "Task send_expiry_alerts failed", '
            '"error": "Error 111 connecting to valkey:6379. Connection refused."}'
        )
    return "\n".join(lines) + "\n"
