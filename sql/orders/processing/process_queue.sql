-- order-processing: the staged orders to apply now, oldest first. Pending orders, and
-- failed ones the processor retries (seed 001: "Retry logic, 3 attempts") until they
-- have failed more than max_retries times and are dead letters. `staging_id` narrows
-- the queue to that one order, whatever its retry count (order-retry: a person fixed it).
SELECT
    STAGING_ID AS staging_id,
    WOO_ORDER_ID AS woo_order_id,
    RETRY_COUNT AS retry_count
FROM USER_ORDER_STAGING
WHERE IS_APPLIED = 0
{% if inputs.staging_id %}
  AND STAGING_ID = {{ inputs.staging_id }}
{% else %}
  AND RETRY_COUNT <= {{ inputs.max_retries }}
{% endif %}
ORDER BY CREATED_DT, STAGING_ID
LIMIT {{ inputs.batch_size }};
