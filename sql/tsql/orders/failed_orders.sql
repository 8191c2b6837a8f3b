-- Failed orders (SQL Server version of sql/orders/failed_orders.sql, same columns):
-- staged orders validation rejected, how many are dead letters (retried more than
-- max_retries times), and the age of the oldest in hours. Mirrors seed 000 "Find Failed
-- Orders" (01_Production/FIND_FAILED_ORDERS.sql) and the dead letter queue of seed 001 §3.
SELECT
    COUNT(*) AS failed_count,
    COALESCE(SUM(CASE WHEN RETRY_COUNT > {{ inputs.max_retries }} THEN 1 ELSE 0 END), 0)
        AS dead_letter_count,
    COALESCE(ROUND(DATEDIFF(SECOND, MIN(CREATED_DT), SYSUTCDATETIME()) / 3600.0, 1), 0)
        AS oldest_failed_hours
FROM dbo.USER_ORDER_STAGING
WHERE IS_APPLIED = 0
  AND VALIDATION_ERROR IS NOT NULL;
