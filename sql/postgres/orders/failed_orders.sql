-- Failed orders (PostgreSQL version of sql/orders/failed_orders.sql, same columns):
-- staged orders validation rejected, how many are dead letters (retried more than
-- max_retries times), and the age of the oldest in hours. Mirrors seed 000 "Find Failed
-- Orders" and the dead letter queue of seed 001 §3.
SELECT
    COUNT(*) AS failed_count,
    COUNT(*) FILTER (WHERE RETRY_COUNT > {{ inputs.max_retries }}) AS dead_letter_count,
    COALESCE(
        ROUND(EXTRACT(EPOCH FROM (now() AT TIME ZONE 'UTC') - MIN(CREATED_DT)) / 3600, 1), 0
    ) AS oldest_failed_hours
FROM USER_ORDER_STAGING
WHERE IS_APPLIED = 0
  AND VALIDATION_ERROR IS NOT NULL;
