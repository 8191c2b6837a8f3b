-- Failed order list: every order validation rejected, oldest first, with what is wrong,
-- how often it was retried and whether it is a dead letter, ready for manual review.
-- Mirrors seed 001 "Quick wins" 2 (FIND_FAILED_ORDERS.sql: "finds orders that failed
-- > 3 times, shows error messages") and seed 000 "Review Error" (cp_order_processor.py show).
SELECT
    STAGING_ID AS staging_id,
    WOO_ORDER_ID AS woo_order_id,
    CUST_NO AS cust_no,
    VALIDATION_ERROR AS validation_error,
    RETRY_COUNT AS retry_count,
    RETRY_COUNT > {{ inputs.max_retries }} AS is_dead_letter,
    TOT_AMT AS tot_amt,
    CREATED_DT AS created_dt,
    ROUND((julianday('now') - julianday(CREATED_DT)) * 24, 1) AS age_hours
FROM USER_ORDER_STAGING
WHERE IS_APPLIED = 0
  AND VALIDATION_ERROR IS NOT NULL
ORDER BY CREATED_DT;
