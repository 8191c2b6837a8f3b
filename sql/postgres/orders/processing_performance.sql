-- Processing performance (PostgreSQL version of sql/orders/processing_performance.sql):
-- throughput, run times (average, p95 by nearest rank), time per order and failure
-- rates of the order processor over the last `window_hours` hours (UTC). Always one row.
WITH runs AS (
    SELECT
        SUCCESS,
        RECORDS_PROCESSED,
        RECORDS_FAILED,
        CAST(EXTRACT(EPOCH FROM END_TIME - START_TIME) AS NUMERIC) AS seconds
    FROM USER_SYNC_LOG
    WHERE OPERATION_TYPE = 'order_processing'
      AND START_TIME >= (now() AT TIME ZONE 'UTC') - CAST({{ inputs.window_hours }} AS INTEGER) * INTERVAL '1 hour'
),
timed AS (
    SELECT seconds, ROW_NUMBER() OVER (ORDER BY seconds) AS n, COUNT(*) OVER () AS total
    FROM runs
    WHERE seconds IS NOT NULL
)
SELECT
    COUNT(*) AS runs,
    COALESCE(SUM(RECORDS_PROCESSED), 0) AS orders_processed,
    ROUND(COALESCE(SUM(RECORDS_PROCESSED), 0) * 1.0 / CAST({{ inputs.window_hours }} AS INTEGER), 2)
        AS orders_per_hour,
    COALESCE(ROUND(AVG(seconds), 1), 0) AS avg_run_seconds,
    COALESCE((SELECT ROUND(MIN(seconds), 1) FROM timed WHERE n * 100 >= total * 95), 0)
        AS p95_run_seconds,
    COALESCE(ROUND(SUM(CASE WHEN RECORDS_PROCESSED > 0 THEN seconds END)
        / NULLIF(SUM(CASE WHEN RECORDS_PROCESSED > 0 THEN RECORDS_PROCESSED END), 0), 2), 0)
        AS avg_seconds_per_order,
    COALESCE(SUM(CASE WHEN SUCCESS = 0 THEN 1 ELSE 0 END), 0) AS failed_runs,
    COALESCE(ROUND(100.0 * SUM(CASE WHEN SUCCESS = 0 THEN 1 ELSE 0 END) / NULLIF(COUNT(*), 0), 1), 0)
        AS run_failure_pct,
    COALESCE(ROUND(100.0 * SUM(RECORDS_FAILED)
        / NULLIF(SUM(RECORDS_PROCESSED + RECORDS_FAILED), 0), 1), 0) AS order_failure_pct
FROM runs;
