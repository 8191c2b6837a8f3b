"""The order demo's batch that "went wrong": what `order-rollback` undoes.

One successful run of the processor about 27 hours before `now` (BATCH_RUN_AGO) applied
five orders with every line's quantity doubled: a faulty processor release read each
WooCommerce line twice for one run. The documents are in PS_DOC_HDR/PS_DOC_LIN, the
doubled quantities are reserved in IM_INV.QTY_ON_SO, and the staging rows are marked
applied with CP_DOC_ID, exactly as a good run leaves them: the mistake shows only in
the documents' quantities and totals, which no longer match the staged order.

The batch can be picked out three ways, as the rollback runbook lets an operator do:
by the processor run that applied it (its USER_SYNC_LOG.LOG_ID: the orders whose
APPLIED_DT falls within that run's START_TIME..END_TIME), by that time window, or by
its staging ids (BATCH_STAGING_IDS). Staging ids and WooCommerce order ids are taken
from ranges the rest of the demo does not use.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta
from typing import Any

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
#: How long before `now` the batch's run started (outside the health check's 24 hours).
BATCH_RUN_AGO = timedelta(days=1, hours=3)
BATCH_STAGING_IDS = (901, 902, 903, 904, 905)
#: The processor's release read every line twice.
QUANTITY_FACTOR = 2
_SEED = 20260103
_TAX_RATE = 0.0825
_FREE_SHIPPING_FROM = 75.00
_SHIPPING = 7.95
_SECONDS_PER_ORDER = 3

Rows = dict[str, list[tuple[Any, ...]]]


def woo_order_id(staging_id: int) -> int:
    """The batch's WooCommerce ids are 2 modulo 3: the rest of the demo's are 1."""
    return 48100 + 3 * staging_id + 1


def doc_id(staging_id: int) -> int:
    return 103_000_000_000 + staging_id * 1_000 + 7


def batch_run(rows: Rows, now: datetime) -> tuple[Any, ...]:
    """The successful order_processing run in `rows` that started nearest BATCH_RUN_AGO."""
    target = now - BATCH_RUN_AGO
    runs = [row for row in rows["USER_SYNC_LOG"] if row[1] == "order_processing" and row[6] == 1]
    if not runs:
        raise ValueError("the demo has no successful processing run to attach the batch to")
    return min(
        runs, key=lambda row: abs((datetime.strptime(row[2], TIME_FORMAT) - target).total_seconds())
    )


def add_bad_batch(rows: Rows, now: datetime) -> None:
    """Add the batch to `rows` (the demo's rows by table, ORDER_COLUMNS order) in place."""
    rng = random.Random(_SEED)
    run = batch_run(rows, now)
    start = datetime.strptime(run[2], TIME_FORMAT)
    end = datetime.strptime(run[3], TIME_FORMAT)
    items = {row[0]: row for row in rows["IM_ITEM"] if row[2] == "A"}
    prices: dict[str, float] = {row[0]: row[1] for row in rows["IM_PRC"]}
    customers = list(rows["AR_CUST"])
    reserved: dict[str, int] = {}
    for index, staging_id in enumerate(BATCH_STAGING_IDS):
        customer = rng.choice(customers)
        skus = rng.sample(sorted(items), rng.choice((1, 2, 2, 3)))
        lines = []
        for sku in skus:
            quantity = rng.choice((1, 1, 2, 3))
            price = float(prices[sku])
            lines.append(
                {
                    "sku": sku,
                    "name": items[sku][1],
                    "quantity": quantity,
                    "price": price,
                    "total": round(quantity * price, 2),
                }
            )
        subtotal, tax, shipping, total = _totals([line["total"] for line in lines])
        created = start - timedelta(minutes=2 + 2 * (len(BATCH_STAGING_IDS) - index))
        applied = end + timedelta(seconds=_SECONDS_PER_ORDER * (index + 1))
        woo = woo_order_id(staging_id)
        document = doc_id(staging_id)
        doc_lines = []
        for seq, line in enumerate(lines, start=1):
            quantity = line["quantity"] * QUANTITY_FACTOR
            doc_lines.append(
                (
                    document,
                    seq,
                    line["sku"],
                    line["name"],
                    quantity,
                    line["price"],
                    round(quantity * line["price"], 2),
                )
            )
            reserved[line["sku"]] = reserved.get(line["sku"], 0) + quantity
        doc_sub = round(sum(line[6] for line in doc_lines), 2)
        doc_tax = round(doc_sub * _TAX_RATE, 2)
        rows["PS_DOC_HDR"].append(
            (
                document,
                f"WEB-{woo}",
                customer[0],
                applied.strftime(TIME_FORMAT),
                "O",
                "WEB",
                "WEB",
                doc_sub,
                doc_tax,
                round(doc_sub + doc_tax + shipping, 2),
            )
        )
        rows["PS_DOC_LIN"].extend(doc_lines)
        rows["USER_ORDER_STAGING"].append(
            (
                staging_id,
                woo,
                customer[0],
                (created - timedelta(seconds=45)).strftime(TIME_FORMAT),
                created.strftime(TIME_FORMAT),
                1,
                applied.strftime(TIME_FORMAT),
                None,
                0,
                subtotal,
                tax,
                shipping,
                total,
                json.dumps(lines),
                str(document),
                customer[1],
                customer[6],
                customer[7],
                customer[8],
                customer[9],
                "stripe",
            )
        )
    # The run took longer by the batch's orders, and counted them as processed.
    count = len(BATCH_STAGING_IDS)
    new_end = end + timedelta(seconds=_SECONDS_PER_ORDER * count + 1)
    log = rows["USER_SYNC_LOG"]
    log[log.index(run)] = (
        run[0],
        run[1],
        run[2],
        new_end.strftime(TIME_FORMAT),
        run[4] + count,
        *run[5:],
    )
    # Creating the documents reserved the (doubled) quantities; the stock to cover them
    # was received, so QTY_ON_HND stays at or above QTY_ON_SO.
    rows["IM_INV"] = [
        (sku, location, on_hand + reserved.get(sku, 0), on_so + reserved.get(sku, 0))
        for sku, location, on_hand, on_so in rows["IM_INV"]
    ]


def _totals(line_totals: list[float]) -> tuple[float, float, float, float]:
    subtotal = round(sum(line_totals), 2)
    tax = round(subtotal * _TAX_RATE, 2)
    shipping = 0.0 if subtotal >= _FREE_SHIPPING_FROM else _SHIPPING
    return subtotal, tax, shipping, round(subtotal + tax + shipping, 2)
