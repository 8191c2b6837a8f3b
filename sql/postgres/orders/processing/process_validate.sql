-- order-processing: validate one staged order the way sp_ValidateStagedOrder does.
-- `validation_error` is NULL for a valid order, else the first rule it breaks, named as
-- in "Common Errors & Fixes" of the operations runbook (sql/orders/processing/process_validate.sql).
-- try_json (sql/postgres/demo/orders_schema.sql) gives NULL for text that is not JSON.
SELECT
    CASE
        WHEN NOT EXISTS (SELECT 1 FROM AR_CUST c WHERE c.CUST_NO = s.CUST_NO)
            THEN 'Customer not found'
        WHEN CASE WHEN json_typeof(x.j) = 'array' THEN json_array_length(x.j) ELSE 0 END = 0
            THEN 'Line items missing'
        WHEN EXISTS (
            SELECT 1
            FROM json_array_elements(CASE WHEN json_typeof(x.j) = 'array' THEN x.j END) e
            LEFT JOIN IM_ITEM i ON i.ITEM_NO = e.value ->> 'sku'
            WHERE i.ITEM_NO IS NULL
        )
            THEN 'Item not found'
        WHEN s.SUBTOT IS NULL OR s.TAX_AMT IS NULL OR s.SHIP_AMT IS NULL OR s.TOT_AMT IS NULL
          OR ABS(s.SUBTOT + s.TAX_AMT + s.SHIP_AMT - s.TOT_AMT) >= 0.005
            THEN 'Invalid totals'
    END AS validation_error
FROM USER_ORDER_STAGING s
CROSS JOIN LATERAL (SELECT try_json(s.LINE_ITEMS_JSON) AS j) x
WHERE s.STAGING_ID = {{ order.staging_id }};
