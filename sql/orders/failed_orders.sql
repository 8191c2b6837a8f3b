-- Failed orders: staged orders that validation rejected (VALIDATION_ERROR set, not
-- applied), and how many of them are dead letters, retried more than max_retries times
-- and now waiting for a person.
-- Mirrors seed 000 "Find Failed Orders" (01_Production/FIND_FAILED_ORDERS.sql) and the
-- dead letter queue query of seed 001 §3 ("flag orders that failed > 3 times").
SELECT
    COUNT(*) AS failed_count,
    COALESCE(SUM(RETRY_COUNT > {{ inputs.max_retries }}), 0) AS dead_letter_count,
    COALESCE(ROUND(MAX(julianday('now') - julianday(CREATED_DT)) * 24, 1), 0)
        AS oldest_failed_hours
FROM USER_ORDER_STAGING
WHERE IS_APPLIED = 0
  AND VALIDATION_ERROR IS NOT NULL;
