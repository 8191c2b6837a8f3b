-- order-processing: record why an order failed and count the attempt. More than
-- max_retries failures make it a dead letter (order-dead-letters).
UPDATE USER_ORDER_STAGING
SET VALIDATION_ERROR = {{ steps.validate.value }},
    RETRY_COUNT = RETRY_COUNT + 1
WHERE STAGING_ID = {{ order.staging_id }}
  AND IS_APPLIED = 0;
