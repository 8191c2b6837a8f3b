-- order-dead-letters: move the listed dead letters out of staging into
-- USER_ORDER_DEAD_LETTER, whole, with when and by which run. Run in one transaction.
INSERT INTO USER_ORDER_DEAD_LETTER (
    STAGING_ID, WOO_ORDER_ID, CUST_NO, ORDER_DT, CREATED_DT, VALIDATION_ERROR, RETRY_COUNT,
    SUBTOT, TAX_AMT, SHIP_AMT, TOT_AMT, LINE_ITEMS_JSON, SHIP_TO_NAME, SHIP_TO_ADRS_1,
    SHIP_TO_CITY, SHIP_TO_STATE, SHIP_TO_ZIP_COD, PMT_METH, MOVED_DT, MOVED_BY_RUN)
SELECT
    STAGING_ID, WOO_ORDER_ID, CUST_NO, ORDER_DT, CREATED_DT, VALIDATION_ERROR, RETRY_COUNT,
    SUBTOT, TAX_AMT, SHIP_AMT, TOT_AMT, LINE_ITEMS_JSON, SHIP_TO_NAME, SHIP_TO_ADRS_1,
    SHIP_TO_CITY, SHIP_TO_STATE, SHIP_TO_ZIP_COD, PMT_METH, datetime('now'), {{ run.id }}
FROM USER_ORDER_STAGING
WHERE IS_APPLIED = 0
  AND STAGING_ID IN {{ steps.list.rows | map(attribute='staging_id') | list | in_list }};

DELETE FROM USER_ORDER_STAGING
WHERE IS_APPLIED = 0
  AND STAGING_ID IN {{ steps.list.rows | map(attribute='staging_id') | list | in_list }};
