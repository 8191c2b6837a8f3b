-- Order validation (PostgreSQL version of sql/orders/order_validation.sql):
-- the pending orders that break a validation rule, one row each, with a 1 for each rule broken.
-- Line items are checked with a JSON array of objects by its shape (a regular expression: PostgreSQL before
-- 16 has no safe "is this JSON" test; a value of that shape that is still not JSON
-- makes the query fail, loudly, rather than pass). On PostgreSQL 16 and later,
-- LINE_ITEMS_JSON IS JSON ARRAY is exact.
WITH pending AS (
    SELECT
        STAGING_ID, WOO_ORDER_ID, CUST_NO, CREATED_DT, VALIDATION_ERROR, RETRY_COUNT,
        SUBTOT, TAX_AMT, SHIP_AMT, TOT_AMT,
        CASE WHEN LINE_ITEMS_JSON ~ '^\s*\[\s*\{.*\}\s*\]\s*$'
             THEN LINE_ITEMS_JSON END AS ITEMS_JSON
    FROM USER_ORDER_STAGING
    WHERE IS_APPLIED = 0
),
checked AS (
    SELECT
        p.STAGING_ID AS staging_id,
        p.WOO_ORDER_ID AS woo_order_id,
        p.CUST_NO AS cust_no,
        p.CREATED_DT AS created_dt,
        p.VALIDATION_ERROR AS validation_error,
        p.RETRY_COUNT AS retry_count,
        CASE WHEN EXISTS (SELECT 1 FROM AR_CUST AS c WHERE c.CUST_NO = p.CUST_NO)
             THEN 0 ELSE 1 END AS customer_not_found,
        CASE WHEN EXISTS (
                 SELECT 1 FROM jsonb_array_elements(COALESCE(p.ITEMS_JSON, '[]')::jsonb) AS line
                 WHERE NOT EXISTS (
                     SELECT 1 FROM IM_ITEM AS i WHERE i.ITEM_NO = line.value ->> 'sku'))
             THEN 1 ELSE 0 END AS item_not_found,
        CASE WHEN p.ITEMS_JSON IS NULL THEN 1 ELSE 0 END AS line_items_missing,
        CASE WHEN p.SUBTOT IS NULL OR p.TAX_AMT IS NULL OR p.SHIP_AMT IS NULL
                  OR p.TOT_AMT IS NULL
                  OR ABS(p.SUBTOT + p.TAX_AMT + p.SHIP_AMT - p.TOT_AMT) >= 0.005
             THEN 1 ELSE 0 END AS invalid_totals
    FROM pending AS p
)
SELECT *
FROM checked
WHERE customer_not_found + item_not_found + line_items_missing + invalid_totals > 0
ORDER BY created_dt, staging_id;
