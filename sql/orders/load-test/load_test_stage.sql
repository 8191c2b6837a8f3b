-- order-load-test (demo only): stage `count` synthetic WooCommerce orders (WOO_ORDER_ID
-- from 9,000,001) after the orders of the demo. Every 10th is wrong on purpose, alternately an
-- unknown customer (the 20th, 40th, ...) and totals off by 1.00 (the 10th, 30th, ...),
-- so the check afterwards can tell applied-correctly from rejected-correctly.
INSERT INTO USER_ORDER_STAGING (
    STAGING_ID, WOO_ORDER_ID, CUST_NO, ORDER_DT, CREATED_DT, IS_APPLIED, RETRY_COUNT,
    SUBTOT, TAX_AMT, SHIP_AMT, TOT_AMT, LINE_ITEMS_JSON, SHIP_TO_NAME, PMT_METH)
WITH RECURSIVE n(i) AS (
    SELECT 1
    UNION ALL
    SELECT i + 1 FROM n WHERE i < {{ inputs.count }}
),
o AS (
    SELECT
        i,
        (SELECT COALESCE(MAX(STAGING_ID), 0) FROM USER_ORDER_STAGING) + i AS staging_id,
        CASE WHEN i % 20 = 0 THEN 'LOADTEST-NONE'
             ELSE CAST(10001 + (i % 15) AS TEXT) END AS cust_no,
        1 + (i % 3) AS qty,
        CASE i % 4 WHEN 0 THEN 'CFE-HOUSE-12' WHEN 1 THEN 'TEA-EARL-100'
                   WHEN 2 THEN 'EQP-FILT-100' ELSE 'GFT-MUG-12' END AS sku,
        CASE i % 4 WHEN 0 THEN 14.50 WHEN 1 THEN 11.00 WHEN 2 THEN 6.50 ELSE 16.00 END AS price
    FROM n
)
SELECT
    staging_id,
    9000000 + i,
    cust_no,
    datetime('now', '-1 minute'),
    datetime('now', '-1 minute'),
    0,
    0,
    qty * price,
    0,
    7.95,
    qty * price + 7.95 + CASE WHEN i % 20 = 10 THEN 1.00 ELSE 0 END,
    json_array(json_object('sku', sku, 'name', 'load test', 'quantity', qty,
                           'price', price, 'total', qty * price)),
    'Load Test',
    'stripe'
FROM o;
