"""The order demo's dead-letter table (seed 001 §3): where order-dead-letters moves the
staged orders that failed more than 3 times, whole, with when and by which run it moved
them. It starts empty; `action=requeue` puts an order back into USER_ORDER_STAGING.
The same table for PostgreSQL, MariaDB and SQL Server is in sql/<dialect>/demo/.
"""

from __future__ import annotations

DEAD_LETTER_SCHEMA = """
CREATE TABLE USER_ORDER_DEAD_LETTER (       -- seed 001 §3: orders that failed too often
    STAGING_ID        INTEGER PRIMARY KEY,  -- the staging row, moved here whole
    WOO_ORDER_ID      INTEGER NOT NULL UNIQUE,
    CUST_NO           TEXT,
    ORDER_DT          TEXT NOT NULL,
    CREATED_DT        TEXT NOT NULL,
    VALIDATION_ERROR  TEXT,
    RETRY_COUNT       INTEGER NOT NULL,
    SUBTOT            NUMERIC,
    TAX_AMT           NUMERIC,
    SHIP_AMT          NUMERIC,
    TOT_AMT           NUMERIC,
    LINE_ITEMS_JSON   TEXT,
    SHIP_TO_NAME      TEXT,
    SHIP_TO_ADRS_1    TEXT,
    SHIP_TO_CITY      TEXT,
    SHIP_TO_STATE     TEXT,
    SHIP_TO_ZIP_COD   TEXT,
    PMT_METH          TEXT,
    MOVED_DT          TEXT NOT NULL,
    MOVED_BY_RUN      TEXT                  -- the runbook run that moved it
);
"""

#: The columns of USER_ORDER_DEAD_LETTER, as demo_orders.ORDER_COLUMNS lists each table's.
DEAD_LETTER_COLUMNS: tuple[str, ...] = (
    "STAGING_ID", "WOO_ORDER_ID", "CUST_NO", "ORDER_DT", "CREATED_DT", "VALIDATION_ERROR",
    "RETRY_COUNT", "SUBTOT", "TAX_AMT", "SHIP_AMT", "TOT_AMT", "LINE_ITEMS_JSON",
    "SHIP_TO_NAME", "SHIP_TO_ADRS_1", "SHIP_TO_CITY", "SHIP_TO_STATE", "SHIP_TO_ZIP_COD",
    "PMT_METH", "MOVED_DT", "MOVED_BY_RUN",
)  # fmt: skip
