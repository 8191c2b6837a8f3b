-- order-processing on SQL Server: the staged orders to apply now, oldest first (see
-- sql/orders/processing/process_queue.sql).
SELECT TOP ({{ inputs.batch_size }})
    STAGING_ID AS staging_id,
    WOO_ORDER_ID AS woo_order_id,
    RETRY_COUNT AS retry_count
FROM dbo.USER_ORDER_STAGING
WHERE IS_APPLIED = 0
{% if inputs.staging_id %}
  AND STAGING_ID = {{ inputs.staging_id }}
{% else %}
  AND RETRY_COUNT <= {{ inputs.max_retries }}
{% endif %}
ORDER BY CREATED_DT, STAGING_ID;
