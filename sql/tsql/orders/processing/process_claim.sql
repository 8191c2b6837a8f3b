-- order-processing on SQL Server: mark one valid order applied, once (the guard against
-- applying an order twice, see sql/orders/processing/process_claim.sql).
UPDATE dbo.USER_ORDER_STAGING
SET IS_APPLIED = 1,
    APPLIED_DT = CAST(SYSUTCDATETIME() AS DATETIME2(0)),
    VALIDATION_ERROR = NULL
WHERE STAGING_ID = {{ order.staging_id }}
  AND IS_APPLIED = 0;
