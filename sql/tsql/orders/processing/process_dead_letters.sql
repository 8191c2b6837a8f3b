-- order-processing on SQL Server: the orders this run failed for the last time (more
-- than max_retries failures), new dead letters announced with their list (seed 001 §3).
SELECT
    STAGING_ID AS staging_id,
    WOO_ORDER_ID AS woo_order_id,
    CUST_NO AS cust_no,
    VALIDATION_ERROR AS validation_error,
    RETRY_COUNT AS retry_count
FROM dbo.USER_ORDER_STAGING
WHERE IS_APPLIED = 0
  AND RETRY_COUNT > {{ inputs.max_retries }}
  AND STAGING_ID IN {{ steps.queue.rows | selectattr('retry_count', 'ge', inputs.max_retries)
                      | map(attribute='staging_id') | list | in_list }}
ORDER BY STAGING_ID;
