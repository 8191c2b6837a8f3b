-- order-processing: validate one staged order the way sp_ValidateStagedOrder does.
-- `validation_error` is NULL for a valid order, else the first rule it breaks, named as
-- in "Common Errors & Fixes" of the operations runbook (sql/orders/processing/process_validate.sql).
SELECT
    CASE
        WHEN NOT EXISTS (SELECT 1 FROM AR_CUST c WHERE c.CUST_NO = s.CUST_NO)
            THEN 'Customer not found'
        WHEN s.LINE_ITEMS_JSON IS NULL
          OR NOT JSON_VALID(s.LINE_ITEMS_JSON)
          OR JSON_TYPE(s.LINE_ITEMS_JSON) <> 'ARRAY'
          OR JSON_LENGTH(s.LINE_ITEMS_JSON) = 0
            THEN 'Line items missing'
        WHEN EXISTS (
            SELECT 1
            FROM JSON_TABLE(s.LINE_ITEMS_JSON, '$[*]' COLUMNS (sku VARCHAR(20) PATH '$.sku')) j
            LEFT JOIN IM_ITEM i ON i.ITEM_NO = j.sku
            WHERE i.ITEM_NO IS NULL
        )
            THEN 'Item not found'
        WHEN s.SUBTOT IS NULL OR s.TAX_AMT IS NULL OR s.SHIP_AMT IS NULL OR s.TOT_AMT IS NULL
          OR ABS(s.SUBTOT + s.TAX_AMT + s.SHIP_AMT - s.TOT_AMT) >= 0.005
            THEN 'Invalid totals'
    END AS validation_error
FROM USER_ORDER_STAGING s
WHERE s.STAGING_ID = {{ order.staging_id }};
