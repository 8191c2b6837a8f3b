-- order-dead-letters: staged orders that failed more than max_retries times, with their
-- errors (seed 001 §3, "Dead Letter Queue Query"). `staging_id` narrows it to one.
SELECT
    STAGING_ID AS staging_id,
    WOO_ORDER_ID AS woo_order_id,
    CUST_NO AS cust_no,
    VALIDATION_ERROR AS validation_error,
    RETRY_COUNT AS retry_count,
    TOT_AMT AS tot_amt,
    CREATED_DT AS created_dt
FROM USER_ORDER_STAGING
WHERE IS_APPLIED = 0
  AND RETRY_COUNT > {{ inputs.max_retries }}
{% if inputs.staging_id %}
  AND STAGING_ID = {{ inputs.staging_id }}
{% endif %}
ORDER BY CREATED_DT, STAGING_ID;
