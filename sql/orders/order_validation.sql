-- Order validation: each pending staged order (not applied) checked against the
-- processor validation rules (seed 001 §6 and seed 000 "Common Errors & Fixes"),
-- one row per order that breaks at least one, with a 1 in the column of each rule it
-- breaks:
--   customer_not_found  CUST_NO is not a customer in AR_CUST          ("Customer not found")
--   item_not_found      the sku of a line is not an item in IM_ITEM         ("Item not found")
--   line_items_missing  LINE_ITEMS_JSON is empty, not JSON, or not a   ("Line items missing")
--                       non-empty array
--   invalid_totals      SUBTOT + TAX_AMT + SHIP_AMT <> TOT_AMT (to the  ("Invalid totals")
--                       cent), or one of them is missing
-- Oldest first, so the order that waited longest is fixed first.
WITH pending AS (
    SELECT
        STAGING_ID, WOO_ORDER_ID, CUST_NO, CREATED_DT, VALIDATION_ERROR, RETRY_COUNT,
        SUBTOT, TAX_AMT, SHIP_AMT, TOT_AMT,
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
        p.STAGING_ID AS staging_id,
        p.WOO_ORDER_ID AS woo_order_id,
        p.CUST_NO AS cust_no,
        p.CREATED_DT AS created_dt,
        p.VALIDATION_ERROR AS validation_error,
        p.RETRY_COUNT AS retry_count,
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
SELECT *
FROM checked
WHERE customer_not_found + item_not_found + line_items_missing + invalid_totals > 0
ORDER BY created_dt, staging_id;
