-- Data quality: how many pending staged orders (not applied) would fail each validation
-- rule of the processor (seed 001 §6 "Data Validation Enhancements", the rules of
-- seed 000 "Common Errors & Fixes"), and how many were checked. The rules are those of
-- order_validation.sql, which lists the orders, an order may break more than one.
-- Always one row.
WITH pending AS (
    SELECT
        STAGING_ID, CUST_NO, SUBTOT, TAX_AMT, SHIP_AMT, TOT_AMT,
        CASE
            WHEN json_valid(LINE_ITEMS_JSON) AND json_type(LINE_ITEMS_JSON) = 'array'
                 AND json_array_length(LINE_ITEMS_JSON) > 0
            THEN LINE_ITEMS_JSON
        END AS ITEMS_JSON
    FROM USER_ORDER_STAGING
    WHERE IS_APPLIED = 0
),
checked AS (
    SELECT
        CASE WHEN EXISTS (SELECT 1 FROM AR_CUST AS c WHERE c.CUST_NO = p.CUST_NO)
             THEN 0 ELSE 1 END AS customer_not_found,
        CASE WHEN EXISTS (
                 SELECT 1 FROM json_each(COALESCE(p.ITEMS_JSON, '[]')) AS line
                 WHERE NOT EXISTS (
                     SELECT 1 FROM IM_ITEM AS i
                     WHERE i.ITEM_NO = json_extract(line.value, '$.sku')))
             THEN 1 ELSE 0 END AS item_not_found,
        CASE WHEN p.ITEMS_JSON IS NULL THEN 1 ELSE 0 END AS line_items_missing,
        CASE WHEN p.SUBTOT IS NULL OR p.TAX_AMT IS NULL OR p.SHIP_AMT IS NULL
                  OR p.TOT_AMT IS NULL
                  OR ABS(p.SUBTOT + p.TAX_AMT + p.SHIP_AMT - p.TOT_AMT) >= 0.005
             THEN 1 ELSE 0 END AS invalid_totals
    FROM pending AS p
)
SELECT
    COUNT(*) AS pending_checked,
    COALESCE(SUM(customer_not_found), 0) AS customer_not_found,
    COALESCE(SUM(item_not_found), 0) AS item_not_found,
    COALESCE(SUM(line_items_missing), 0) AS line_items_missing,
    COALESCE(SUM(invalid_totals), 0) AS invalid_totals,
    COALESCE(SUM(CASE WHEN customer_not_found + item_not_found + line_items_missing
                           + invalid_totals > 0 THEN 1 ELSE 0 END), 0) AS failing_orders
FROM checked;
