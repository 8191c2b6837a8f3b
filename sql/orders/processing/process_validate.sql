-- order-processing: validate one staged order the way sp_ValidateStagedOrder does.
-- `validation_error` is NULL for a valid order, else the first rule it breaks, named as
-- in "Common Errors & Fixes" of the operations runbook:
--   Customer not found   CUST_NO is not in AR_CUST
--   Line items missing   LINE_ITEMS_JSON is absent, not JSON, not a list, or empty
--   Item not found       the sku of a line is not in IM_ITEM
--   Invalid totals       SUBTOT + TAX_AMT + SHIP_AMT <> TOT_AMT (to the cent)
SELECT
    CASE
        WHEN NOT EXISTS (SELECT 1 FROM AR_CUST c WHERE c.CUST_NO = s.CUST_NO)
            THEN 'Customer not found'
        WHEN s.LINE_ITEMS_JSON IS NULL
          OR NOT json_valid(s.LINE_ITEMS_JSON)
          OR json_type(s.LINE_ITEMS_JSON) <> 'array'
          OR json_array_length(s.LINE_ITEMS_JSON) = 0
            THEN 'Line items missing'
        WHEN EXISTS (
            SELECT 1
            FROM json_each(s.LINE_ITEMS_JSON) j
            LEFT JOIN IM_ITEM i ON i.ITEM_NO = json_extract(j.value, '$.sku')
            WHERE i.ITEM_NO IS NULL
        )
            THEN 'Item not found'
        WHEN s.SUBTOT IS NULL OR s.TAX_AMT IS NULL OR s.SHIP_AMT IS NULL OR s.TOT_AMT IS NULL
          OR ABS(s.SUBTOT + s.TAX_AMT + s.SHIP_AMT - s.TOT_AMT) >= 0.005
            THEN 'Invalid totals'
    END AS validation_error
FROM USER_ORDER_STAGING s
WHERE s.STAGING_ID = {{ order.staging_id }};
