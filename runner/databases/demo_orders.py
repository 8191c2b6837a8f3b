"""The order pipeline's demo database: WooCommerce -> USER_ORDER_STAGING -> CounterPoint
PS_DOC_HDR/PS_DOC_LIN, with USER_SYNC_LOG for the scheduled processor, as the seed
runbooks describe it.

The data is relative to `now` and tells one story a morning check should catch: the
processor ran every 15 minutes for a week (USER_SYNC_LOG holds all 7 days) with the odd
transient failure in the last two, then the database started timing out and refusing
connections five hours ago, and after a last failed run 70 minutes ago the scheduled
task stopped. Orders are piling up in staging,
and four orders fail validation for the four reasons the operations runbook lists; two
of them were retried more than 3 times and are dead letters (USER_ORDER_DEAD_LETTER,
where order-dead-letters moves them, starts empty).
"""

from __future__ import annotations

import json
import random
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from runner.base.clock import naive_utc
from runner.databases.demo_batch import add_bad_batch
from runner.databases.demo_dead_letters import DEAD_LETTER_COLUMNS, DEAD_LETTER_SCHEMA

#: Fixed, so a given `now` always yields the same database.
RANDOM_SEED = 20260102
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"  # what SQLite's julianday()/datetime() read, in UTC


def _ts(moment: datetime) -> str:
    return moment.strftime(TIME_FORMAT)


ORDERS_SCHEMA = (
    """
CREATE TABLE IM_ITEM (
    ITEM_NO    TEXT PRIMARY KEY,
    DESCR      TEXT NOT NULL,
    STAT       TEXT NOT NULL DEFAULT 'A',   -- A active, D discontinued
    CATEG_COD  TEXT,
    ITEM_TYP   TEXT NOT NULL DEFAULT 'I',
    LST_COST   NUMERIC
);
CREATE TABLE IM_PRC (
    ITEM_NO  TEXT PRIMARY KEY REFERENCES IM_ITEM (ITEM_NO),
    PRC_1    NUMERIC NOT NULL
);
CREATE TABLE IM_INV (
    ITEM_NO     TEXT NOT NULL REFERENCES IM_ITEM (ITEM_NO),
    LOC_ID      TEXT NOT NULL,
    QTY_ON_HND  NUMERIC NOT NULL DEFAULT 0,
    QTY_ON_SO   NUMERIC NOT NULL DEFAULT 0,
    PRIMARY KEY (ITEM_NO, LOC_ID)
);
CREATE TABLE AR_CUST (
    CUST_NO       TEXT PRIMARY KEY,
    NAM           TEXT NOT NULL,
    FST_NAM       TEXT,
    LST_NAM       TEXT,
    EMAIL_ADRS_1  TEXT,
    PHONE_1       TEXT,
    ADRS_1        TEXT,
    CITY          TEXT,
    STATE         TEXT,
    ZIP_COD       TEXT,
    CUST_TYP      TEXT
);
CREATE TABLE PS_DOC_HDR (
    DOC_ID   INTEGER PRIMARY KEY,
    TKT_NO   TEXT NOT NULL UNIQUE,
    CUST_NO  TEXT NOT NULL,
    TKT_DT   TEXT NOT NULL,
    DOC_TYP  TEXT NOT NULL,                 -- O: customer order
    STR_ID   TEXT NOT NULL,
    STA_ID   TEXT NOT NULL,
    SUB_TOT  NUMERIC NOT NULL,
    TAX_AMT  NUMERIC NOT NULL,
    TOT_AMT  NUMERIC NOT NULL
);
CREATE INDEX PS_DOC_HDR_TKT_DT ON PS_DOC_HDR (TKT_DT);
CREATE TABLE PS_DOC_LIN (
    DOC_ID      INTEGER NOT NULL REFERENCES PS_DOC_HDR (DOC_ID),
    LIN_SEQ_NO  INTEGER NOT NULL,
    ITEM_NO     TEXT NOT NULL,
    DESCR       TEXT,
    QTY_SOLD    NUMERIC NOT NULL,
    PRC         NUMERIC NOT NULL,
    EXT_PRC     NUMERIC NOT NULL,
    PRIMARY KEY (DOC_ID, LIN_SEQ_NO)
);
CREATE TABLE USER_ORDER_STAGING (
    STAGING_ID        INTEGER PRIMARY KEY,
    WOO_ORDER_ID      INTEGER NOT NULL UNIQUE,
    CUST_NO           TEXT,                 -- no foreign key: staging holds unvalidated data
    ORDER_DT          TEXT NOT NULL,
    CREATED_DT        TEXT NOT NULL,
    IS_APPLIED        INTEGER NOT NULL DEFAULT 0 CHECK (IS_APPLIED IN (0, 1)),
    APPLIED_DT        TEXT,
    VALIDATION_ERROR  TEXT,
    RETRY_COUNT       INTEGER NOT NULL DEFAULT 0,
    SUBTOT            NUMERIC,
    TAX_AMT           NUMERIC,
    SHIP_AMT          NUMERIC,
    TOT_AMT           NUMERIC,
    LINE_ITEMS_JSON   TEXT,
    CP_DOC_ID         TEXT,                 -- PS_DOC_HDR.DOC_ID as text, as in CounterPoint
    SHIP_TO_NAME      TEXT,
    SHIP_TO_ADRS_1    TEXT,
    SHIP_TO_CITY      TEXT,
    SHIP_TO_STATE     TEXT,
    SHIP_TO_ZIP_COD   TEXT,
    PMT_METH          TEXT
);
CREATE INDEX USER_ORDER_STAGING_PENDING ON USER_ORDER_STAGING (IS_APPLIED, CREATED_DT);
CREATE TABLE USER_SYNC_LOG (
    LOG_ID             INTEGER PRIMARY KEY,
    OPERATION_TYPE     TEXT NOT NULL,
    START_TIME         TEXT NOT NULL,
    END_TIME           TEXT,
    RECORDS_PROCESSED  INTEGER NOT NULL DEFAULT 0,
    RECORDS_FAILED     INTEGER NOT NULL DEFAULT 0,
    SUCCESS            INTEGER NOT NULL CHECK (SUCCESS IN (0, 1)),
    ERROR_MESSAGE      TEXT
);
CREATE INDEX USER_SYNC_LOG_RECENT ON USER_SYNC_LOG (OPERATION_TYPE, START_TIME);
"""
    + DEAD_LETTER_SCHEMA
)

# (ITEM_NO, DESCR, category, price, status)
ITEMS: tuple[tuple[str, str, str, float, str], ...] = (
    ("CFE-HOUSE-12", "House Blend Coffee, 12 oz", "COFFEE", 14.50, "A"),
    ("CFE-ETHI-12", "Ethiopia Yirgacheffe, 12 oz", "COFFEE", 18.00, "A"),
    ("CFE-COLO-12", "Colombia Supremo, 12 oz", "COFFEE", 15.50, "A"),
    ("CFE-SUMA-12", "Sumatra Mandheling, 12 oz", "COFFEE", 16.75, "A"),
    ("CFE-DECAF-12", "Swiss Water Decaf, 12 oz", "COFFEE", 15.00, "A"),
    ("CFE-ESPR-2LB", "Espresso Roast, 2 lb", "COFFEE", 36.00, "A"),
    ("CFE-COLDBREW", "Cold Brew Packs, 4 ct", "COFFEE", 12.00, "D"),
    ("TEA-EARL-100", "Earl Grey, 100 g", "TEA", 11.00, "A"),
    ("TEA-ENGB-100", "English Breakfast, 100 g", "TEA", 10.50, "A"),
    ("TEA-JASM-50", "Jasmine Pearls, 50 g", "TEA", 16.00, "A"),
    ("TEA-SENC-100", "Sencha, 100 g", "TEA", 13.25, "A"),
    ("TEA-CHAM-50", "Chamomile Flowers, 50 g", "TEA", 8.75, "A"),
    ("TEA-CHAI-100", "Masala Chai, 100 g", "TEA", 12.00, "A"),
    ("TEA-ROOI-100", "Rooibos Vanilla, 100 g", "TEA", 10.00, "A"),
    ("EQP-DRIPPER", "Ceramic Pour-Over Dripper", "EQUIP", 24.00, "A"),
    ("EQP-FILT-100", "Paper Filters, 100 ct", "EQUIP", 6.50, "A"),
    ("EQP-GRINDER", "Conical Burr Grinder", "EQUIP", 129.00, "A"),
    ("EQP-PRESS-34", "French Press, 34 oz", "EQUIP", 39.00, "A"),
    ("EQP-KETTLE", "Gooseneck Kettle, 1 L", "EQUIP", 54.00, "A"),
    ("EQP-SCALE", "Digital Brew Scale", "EQUIP", 29.95, "A"),
    ("EQP-TEAPOT", "Glass Teapot, 600 ml", "EQUIP", 27.50, "A"),
    ("GFT-MUG-12", "Stoneware Mug, 12 oz", "GIFT", 16.00, "A"),
    ("GFT-TUMB-16", "Travel Tumbler, 16 oz", "GIFT", 26.00, "A"),
    ("GFT-SAMPLER", "Coffee Sampler Box", "GIFT", 34.00, "A"),
    ("GFT-TEASET", "Tea Tasting Set", "GIFT", 42.00, "A"),
)

# (first name, last name, city, state, zip)
CUSTOMERS: tuple[tuple[str, str, str, str, str], ...] = (
    ("Maria", "Alvarez", "Austin", "TX", "78704"),
    ("James", "Okafor", "Houston", "TX", "77006"),
    ("Linda", "Chen", "Dallas", "TX", "75204"),
    ("Robert", "Nguyen", "San Antonio", "TX", "78209"),
    ("Patricia", "Walsh", "Austin", "TX", "78745"),
    ("Michael", "Brennan", "Round Rock", "TX", "78664"),
    ("Aisha", "Rahman", "Plano", "TX", "75024"),
    ("David", "Kowalski", "Fort Worth", "TX", "76107"),
    ("Sofia", "Rossi", "El Paso", "TX", "79912"),
    ("Thomas", "Reed", "Waco", "TX", "76706"),
    ("Grace", "Park", "Denton", "TX", "76201"),
    ("Daniel", "Mendoza", "Lubbock", "TX", "79416"),
    ("Emily", "Foster", "Georgetown", "TX", "78628"),
    ("Samuel", "Adeyemi", "Irving", "TX", "75039"),
    ("Hannah", "Lindqvist", "Galveston", "TX", "77550"),
)

#: The four validation errors of the operations runbook ("Common Errors & Fixes").
VALIDATION_ERRORS = ("Customer not found", "Item not found", "Line items missing", "Invalid totals")
UNKNOWN_CUSTOMER = "10342"  # a WooCommerce customer never created in AR_CUST
UNKNOWN_SKU = "TEA-MATCH-30"  # a new web product not yet set up in IM_ITEM

TAX_RATE = 0.0825
FREE_SHIPPING_FROM = 75.00
SHIPPING = 7.95
RUN_EVERY = timedelta(minutes=15)
LAST_RUN_AGO = timedelta(minutes=70)  # the scheduled task stopped after this run
OUTAGE_RUNS = 17  # the last 17 runs failed: 4 h 10 min of database trouble
LOG_DAYS = 2  # transient failures and the status sync are spread over the last 2 days
PENDING_AGES_MINUTES = (6, 18, 41, 75, 120, 210, 300)  # 3 fresh, 4 stale
APPLIED_ORDERS = 60
HISTORY_DAYS = 7


@dataclass
class _Order:
    created: datetime
    cust_no: str
    lines: list[dict[str, Any]]
    validation_error: str | None = None
    retry_count: int = 0
    line_items_json: str | None = None  # set to corrupt the JSON on purpose
    totals: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    applied: datetime | None = None
    doc_id: int | None = None


@dataclass
class _Run:
    start: datetime
    error: str | None = None
    applied: list[_Order] = field(default_factory=list)
    failed: int = 0


#: Columns written by `order_rows`, per table, in the order the tables are filled.
ORDER_COLUMNS: dict[str, tuple[str, ...]] = {
    "IM_ITEM": ("ITEM_NO", "DESCR", "STAT", "CATEG_COD", "LST_COST"),
    "IM_PRC": ("ITEM_NO", "PRC_1"),
    "IM_INV": ("ITEM_NO", "LOC_ID", "QTY_ON_HND", "QTY_ON_SO"),
    "AR_CUST": (
        "CUST_NO", "NAM", "FST_NAM", "LST_NAM", "EMAIL_ADRS_1", "PHONE_1", "ADRS_1",
        "CITY", "STATE", "ZIP_COD", "CUST_TYP",
    ),
    "USER_ORDER_STAGING": (
        "STAGING_ID", "WOO_ORDER_ID", "CUST_NO", "ORDER_DT", "CREATED_DT", "IS_APPLIED",
        "APPLIED_DT", "VALIDATION_ERROR", "RETRY_COUNT", "SUBTOT", "TAX_AMT", "SHIP_AMT",
        "TOT_AMT", "LINE_ITEMS_JSON", "CP_DOC_ID", "SHIP_TO_NAME", "SHIP_TO_ADRS_1",
        "SHIP_TO_CITY", "SHIP_TO_STATE", "SHIP_TO_ZIP_COD", "PMT_METH",
    ),
    "PS_DOC_HDR": (
        "DOC_ID", "TKT_NO", "CUST_NO", "TKT_DT", "DOC_TYP", "STR_ID", "STA_ID",
        "SUB_TOT", "TAX_AMT", "TOT_AMT",
    ),
    "PS_DOC_LIN": ("DOC_ID", "LIN_SEQ_NO", "ITEM_NO", "DESCR", "QTY_SOLD", "PRC", "EXT_PRC"),
    "USER_SYNC_LOG": (
        "LOG_ID", "OPERATION_TYPE", "START_TIME", "END_TIME", "RECORDS_PROCESSED",
        "RECORDS_FAILED", "SUCCESS", "ERROR_MESSAGE",
    ),
    "USER_ORDER_DEAD_LETTER": DEAD_LETTER_COLUMNS,  # empty: see demo_dead_letters.py
}  # fmt: skip
#: Columns holding a UTC time as text (TIME_FORMAT); other databases store them as timestamps.
TIME_COLUMNS = frozenset(
    {"ORDER_DT", "CREATED_DT", "APPLIED_DT", "TKT_DT", "START_TIME", "END_TIME", "MOVED_DT"}
)
Rows = dict[str, list[tuple[Any, ...]]]


def build_orders(connection: sqlite3.Connection, now: datetime) -> None:
    """Create and fill the order pipeline tables; `now` is a naive UTC datetime."""
    connection.executescript(ORDERS_SCHEMA)
    rows = order_rows(now)
    for table, values in rows.items():
        if table != "USER_SYNC_LOG":
            _insert(connection, table, values)
    _insert_sync_log(connection, rows["USER_SYNC_LOG"])


def order_rows(now: datetime) -> Rows:
    """Every row of the order pipeline for `now`, by table, in ORDER_COLUMNS order.

    The same rows fill the embedded SQLite demo and, in the integration tests, the
    PostgreSQL, MariaDB and SQLite-through-ODBC copies, so all of them tell one story.
    """
    now = naive_utc(now)
    rng = random.Random(RANDOM_SEED)
    rows: Rows = _catalog_rows(rng)
    runs = _schedule(now, rng)
    orders = _orders(now, runs, rng)
    rows.update(_order_rows(orders, rows))
    rows["USER_SYNC_LOG"] = _sync_log_rows(now, runs, rng)
    add_bad_batch(rows, now)  # what order-rollback undoes: demo_batch.py
    rows["USER_ORDER_DEAD_LETTER"] = []
    return rows


def _insert(connection: sqlite3.Connection, table: str, values: list[tuple[Any, ...]]) -> None:
    columns = ORDER_COLUMNS[table]
    connection.executemany(
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
        values,
    )


def _insert_sync_log(connection: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
    # Written last, on its own: the tests break the build here to prove it is atomic.
    _insert(connection, "USER_SYNC_LOG", rows)


def _catalog_rows(rng: random.Random) -> Rows:
    items = [
        (no, descr, stat, cat, round(price * 0.45, 2)) for no, descr, cat, price, stat in ITEMS
    ]
    prices = [(no, price) for no, _, _, price, _ in ITEMS]
    # QTY_ON_SO is filled in from the order lines once the orders exist.
    inventory = [(no, "MAIN", rng.randint(6, 90), 0) for no, *_ in ITEMS]
    customers = []
    for number, (first, last, city, state, zip_code) in enumerate(CUSTOMERS, start=10001):
        customers.append(
            (
                str(number),
                f"{first} {last}",
                first,
                last,
                f"{first}.{last}@example.com".lower(),
                f"512-555-{number % 10000:04d}",
                f"{rng.randint(100, 9899)} {rng.choice(('Oak', 'Elm', 'Cedar', 'Pecan'))} St",
                city,
                state,
                zip_code,
                "WEB",
            )
        )
    return {"IM_ITEM": items, "IM_PRC": prices, "IM_INV": inventory, "AR_CUST": customers}


def _schedule(now: datetime, rng: random.Random) -> list[_Run]:
    """Every 15-minute run of the order processor over the history, oldest first."""
    last = now - LAST_RUN_AGO
    count = int(timedelta(days=HISTORY_DAYS) / RUN_EVERY) + 1
    runs = [_Run(last - RUN_EVERY * k) for k in range(count)][::-1]
    for index, run in enumerate(runs[-OUTAGE_RUNS:]):
        # The database first slowed down, then stopped answering.
        run.error = (
            "Timeout expired: sp_CreateOrderFromStaging did not complete within 30 seconds"
            if index < OUTAGE_RUNS // 2
            else "Connection failed: [08001] TCP Provider: No connection could be made "
            "because the target machine actively refused it"
        )
    sporadic = (
        "Timeout expired: lock request time out period exceeded on IM_INV",
        "Connection failed: [08S01] Communication link failure",
        "Timeout expired: sp_ValidateStagedOrder did not complete within 30 seconds",
    )
    # A few transient failures inside the logged window, none right before the outage.
    since = now - timedelta(days=LOG_DAYS)
    logged = [run for run in runs[: -OUTAGE_RUNS - 4] if run.start >= since]
    for run, message in zip(rng.sample(logged, len(sporadic)), sporadic, strict=True):
        run.error = message
    return runs


def _order_lines(rng: random.Random, count: int | None = None) -> list[dict[str, Any]]:
    active = [item for item in ITEMS if item[4] == "A"]
    picked = rng.sample(active, count or rng.choice((1, 1, 2, 2, 2, 3, 4)))
    lines = []
    for sku, descr, _, price, _ in picked:
        quantity = rng.choice((1, 1, 1, 2, 2, 3))
        lines.append(
            {
                "sku": sku,
                "name": descr,
                "quantity": quantity,
                "price": price,
                "total": round(quantity * price, 2),
            }
        )
    return lines


def _totals(lines: list[dict[str, Any]]) -> tuple[float, float, float, float]:
    subtotal = round(sum(line["total"] for line in lines), 2)
    tax = round(subtotal * TAX_RATE, 2)
    shipping = 0.0 if subtotal >= FREE_SHIPPING_FROM else SHIPPING
    return subtotal, tax, shipping, round(subtotal + tax + shipping, 2)


def _orders(now: datetime, runs: list[_Run], rng: random.Random) -> list[_Order]:
    customers = [str(number) for number in range(10001, 10001 + len(CUSTOMERS))]
    last_success = max(run.start for run in runs if run.error is None)
    first_run = runs[0].start
    span = (last_success - first_run).total_seconds() - 120

    def new_order(created: datetime, **changes: Any) -> _Order:
        order = _Order(created, rng.choice(customers), _order_lines(rng))
        for key, value in changes.items():
            setattr(order, key, value)
        order.totals = _totals(order.lines)
        return order

    orders = [
        new_order(first_run + timedelta(seconds=rng.uniform(60, span)))
        for _ in range(APPLIED_ORDERS)
    ]
    orders.sort(key=lambda order: order.created)
    for order in orders:
        run = next(run for run in runs if run.start > order.created and run.error is None)
        run.applied.append(order)
        order.applied = run.start + timedelta(seconds=2 + 3 * len(run.applied))

    failed = [
        new_order(
            now - timedelta(days=5, hours=3, minutes=12),
            cust_no=UNKNOWN_CUSTOMER,
            validation_error="Customer not found",
            retry_count=6,
        ),
        new_order(
            now - timedelta(days=3, hours=7, minutes=40),
            validation_error="Item not found",
            retry_count=4,
        ),
        new_order(
            now - timedelta(days=1, hours=2, minutes=5),
            validation_error="Line items missing",
            retry_count=2,
        ),
        new_order(
            now - timedelta(hours=19, minutes=33), validation_error="Invalid totals", retry_count=1
        ),
    ]
    failed[1].lines.append(
        {
            "sku": UNKNOWN_SKU,
            "name": "Ceremonial Matcha, 30 g",
            "quantity": 1,
            "price": 22.00,
            "total": 22.00,
        }
    )
    failed[1].totals = _totals(failed[1].lines)
    # WooCommerce cut the payload short: the lines never arrived as valid JSON.
    failed[2].line_items_json = json.dumps(failed[2].lines)[:37]
    subtotal, tax, shipping, total = failed[3].totals
    failed[3].totals = (subtotal, tax, shipping, round(total + 10.00, 2))  # coupon not deducted
    for order in failed:
        run = next(run for run in runs if run.start > order.created and run.error is None)
        run.failed += 1

    pending = [new_order(now - timedelta(minutes=age)) for age in PENDING_AGES_MINUTES]
    return sorted(orders + failed + pending, key=lambda order: order.created)


def _order_rows(orders: list[_Order], catalog: Rows) -> Rows:
    customers = {row[0]: (row[1], *row[6:10]) for row in catalog["AR_CUST"]}
    staging, headers, lines = [], [], []
    on_order: dict[str, int] = {}
    for number, order in enumerate(orders, start=1):
        woo_order_id = 48100 + number * 3  # other WooCommerce statuses take the gaps
        placed = order.created - timedelta(seconds=30 + (number * 37) % 200)
        name, street, city, state, zip_code = customers.get(
            order.cust_no, ("Jordan Blake", "77 Harbor Rd", "Corpus Christi", "TX", "78401")
        )
        subtotal, tax, shipping, total = order.totals
        if order.applied is not None:
            order.doc_id = 103_000_000_000 + number * 1_000 + 7
            headers.append(
                (
                    order.doc_id,
                    f"WEB-{woo_order_id}",
                    order.cust_no,
                    _ts(order.applied),
                    "O",
                    "WEB",
                    "WEB",
                    subtotal,
                    tax,
                    total,
                )
            )
            for seq, line in enumerate(order.lines, start=1):
                lines.append(
                    (
                        order.doc_id,
                        seq,
                        line["sku"],
                        line["name"],
                        line["quantity"],
                        line["price"],
                        line["total"],
                    )
                )
                on_order[line["sku"]] = on_order.get(line["sku"], 0) + line["quantity"]
        staging.append(
            (
                number,
                woo_order_id,
                order.cust_no,
                _ts(placed),
                _ts(order.created),
                int(order.applied is not None),
                _ts(order.applied) if order.applied else None,
                order.validation_error,
                order.retry_count,
                subtotal,
                tax,
                shipping,
                total,
                order.line_items_json
                if order.line_items_json is not None
                else json.dumps(order.lines),
                str(order.doc_id) if order.doc_id else None,
                name,
                street,
                city,
                state,
                zip_code,
                ("stripe", "paypal", "stripe", "stripe")[number % 4],
            )
        )
    # Creating an order in CounterPoint reserves its quantities (seed 001: QTY_ON_SO).
    inventory = [
        (sku, location, on_hand + on_order.get(sku, 0), on_order.get(sku, 0))
        for sku, location, on_hand, _ in catalog["IM_INV"]
    ]
    return {
        "IM_INV": inventory,
        "USER_ORDER_STAGING": staging,
        "PS_DOC_HDR": headers,
        "PS_DOC_LIN": lines,
    }


def _sync_log_rows(now: datetime, runs: list[_Run], rng: random.Random) -> list[tuple[Any, ...]]:
    since = now - timedelta(days=LOG_DAYS)
    rows = []
    for run in runs:  # the processor's own runs: the whole HISTORY_DAYS (weekly review)
        if run.error is None:
            seconds = 1 + 3 * (len(run.applied) + run.failed) + rng.randint(0, 2)
        elif run.error.startswith("Timeout"):
            seconds = 30 + rng.randint(0, 2)
        else:
            seconds = 15 + rng.randint(0, 1)  # the driver's login timeout
        rows.append(
            (
                "order_processing",
                _ts(run.start),
                _ts(run.start + timedelta(seconds=seconds)),
                len(run.applied),
                run.failed,
                int(run.error is None),
                run.error,
            )
        )
    # The status sync back to WooCommerce is a separate task and kept running, so a
    # query that forgets to filter on OPERATION_TYPE sees activity where there is none.
    outage = (runs[-OUTAGE_RUNS].start, runs[-1].start + RUN_EVERY)
    moment = now - timedelta(minutes=12)
    while moment >= since:
        failing = outage[0] <= moment <= outage[1]
        rows.append(
            (
                "order_status_sync",
                _ts(moment),
                _ts(moment + timedelta(seconds=rng.randint(2, 6))),
                0 if failing else rng.randint(0, 4),
                0,
                int(not failing),
                "Connection failed: [08S01] Communication link failure" if failing else None,
            )
        )
        moment -= timedelta(minutes=30)
    rows.sort(key=lambda row: row[1])
    return [(log_id, *row) for log_id, row in enumerate(rows, start=1)]
