-- Processing history (PostgreSQL version of sql/orders/processing_history.sql): runs of
-- the order processor in the last 24 hours, failures, orders applied and durations.
-- Mirrors seed 000 "Check Processing History" and "Review Processing Performance".
SELECT
    COUNT(*) AS runs_24h,
    COUNT(*) FILTER (WHERE SUCCESS = 0) AS failed_runs_24h,
    COALESCE(SUM(RECORDS_PROCESSED), 0) AS records_processed_24h,
    COALESCE(ROUND(AVG(EXTRACT(EPOCH FROM END_TIME - START_TIME)), 1), 0) AS avg_seconds,
    COALESCE(CAST(ROUND(MAX(EXTRACT(EPOCH FROM END_TIME - START_TIME))) AS INTEGER), 0)
        AS max_seconds
FROM USER_SYNC_LOG
WHERE OPERATION_TYPE = 'order_processing'
  AND START_TIME >= (now() AT TIME ZONE 'UTC') - INTERVAL '1 day';
