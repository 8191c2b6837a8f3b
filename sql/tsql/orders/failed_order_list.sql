-- Failed order list (SQL Server version of sql/orders/failed_order_list.sql): every
-- order validation rejected, oldest first, ready for manual review. Mirrors seed 001
-- "Quick wins" 2 (FIND_FAILED_ORDERS.sql) and seed 000 "Review Error".
SELECT
    STAGING_ID AS staging_id,
    WOO_ORDER_ID AS woo_order_id,
    CUST_NO AS cust_no,
    VALIDATION_ERROR AS validation_error,
    RETRY_COUNT AS retry_count,
    CASE WHEN RETRY_COUNT > {{ inputs.max_retries }} THEN 1 ELSE 0 END AS is_dead_letter,
    TOT_AMT AS tot_amt,
    CREATED_DT AS created_dt,
    ROUND(DATEDIFF(SECOND, CREATED_DT, SYSUTCDATETIME()) / 3600.0, 1) AS age_hours
FROM dbo.USER_ORDER_STAGING
WHERE IS_APPLIED = 0
  AND VALIDATION_ERROR IS NOT NULL
ORDER BY CREATED_DT;
