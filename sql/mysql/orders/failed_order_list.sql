-- Failed order list (MariaDB/MySQL version of sql/orders/failed_order_list.sql): every
-- order validation rejected, oldest first, ready for manual review. Mirrors seed 001
-- "Quick wins" 2 and seed 000 "Review Error".
SELECT
    STAGING_ID AS staging_id,
    WOO_ORDER_ID AS woo_order_id,
    CUST_NO AS cust_no,
    VALIDATION_ERROR AS validation_error,
    RETRY_COUNT AS retry_count,
    RETRY_COUNT > {{ inputs.max_retries }} AS is_dead_letter,
    TOT_AMT AS tot_amt,
    CREATED_DT AS created_dt,
    ROUND(TIMESTAMPDIFF(SECOND, CREATED_DT, UTC_TIMESTAMP()) / 3600, 1) AS age_hours
FROM USER_ORDER_STAGING
WHERE IS_APPLIED = 0
  AND VALIDATION_ERROR IS NOT NULL
ORDER BY CREATED_DT;
