-- order-processing: mark one valid order applied. `AND IS_APPLIED = 0` makes this the
-- guard against applying an order twice: a second processor (or a retry) that reaches
-- the same order updates no row, its assert fails and its transaction rolls back.
UPDATE USER_ORDER_STAGING
SET IS_APPLIED = 1,
    APPLIED_DT = UTC_TIMESTAMP(),
    VALIDATION_ERROR = NULL
WHERE STAGING_ID = {{ order.staging_id }}
  AND IS_APPLIED = 0;
