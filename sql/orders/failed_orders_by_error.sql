-- Failed orders by error: one row per VALIDATION_ERROR with how many orders have it,
-- how many of those are dead letters (retried more than max_retries times), and the
-- oldest, so the fix for the commonest error comes first.
-- Mirrors seed 000 "Failed Orders" -> "Common Errors & Fixes" (Customer not found,
-- Item not found, Line items missing, Invalid totals).
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
