-- Failed orders by error (MariaDB/MySQL version of sql/orders/failed_orders_by_error.sql):
-- one row per VALIDATION_ERROR with its count, dead letters and oldest order.
-- Mirrors seed 000 "Failed Orders" -> "Common Errors & Fixes".
SELECT
    VALIDATION_ERROR AS validation_error,
    COUNT(*) AS order_count,
    SUM(RETRY_COUNT > {{ inputs.max_retries }}) AS dead_letter_count,
    MIN(CREATED_DT) AS oldest_created_dt
FROM USER_ORDER_STAGING
WHERE IS_APPLIED = 0
  AND VALIDATION_ERROR IS NOT NULL
GROUP BY VALIDATION_ERROR
ORDER BY order_count DESC, validation_error;
