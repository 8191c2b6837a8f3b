-- order-dead-letters: what is left afterwards, for the asserts: dead letters still in
-- staging, how many are in USER_ORDER_DEAD_LETTER, and (requeue) whether the named order
-- waits in staging as a fresh pending order.
SELECT
    (SELECT COUNT(*) FROM USER_ORDER_STAGING
     WHERE IS_APPLIED = 0 AND RETRY_COUNT > {{ inputs.max_retries }}) AS in_staging,
    (SELECT COUNT(*) FROM USER_ORDER_DEAD_LETTER) AS in_dead_letter_table,
    (SELECT COUNT(*) FROM USER_ORDER_STAGING
     WHERE STAGING_ID = {{ inputs.staging_id }} AND IS_APPLIED = 0
       AND RETRY_COUNT = 0 AND VALIDATION_ERROR IS NULL) AS requeued;
