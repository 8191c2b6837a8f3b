-- order-retry: clear the validation error of one order before it is processed again
-- (seed 000 "Fix and Retry"). The retry count stays: it is the history of the order.
UPDATE USER_ORDER_STAGING
SET VALIDATION_ERROR = NULL
WHERE STAGING_ID = {{ inputs.staging_id }}
  AND IS_APPLIED = 0;
