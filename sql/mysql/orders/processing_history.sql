-- Processing history (MariaDB/MySQL version of sql/orders/processing_history.sql): runs
-- of the order processor in the last 24 hours, failures, orders applied and durations.
-- Mirrors seed 000 "Check Processing History" and "Review Processing Performance".
SELECT
    COUNT(*) AS runs_24h,
    COALESCE(SUM(SUCCESS = 0), 0) AS failed_runs_24h,
    COALESCE(SUM(RECORDS_PROCESSED), 0) AS records_processed_24h,
    COALESCE(ROUND(AVG(TIMESTAMPDIFF(SECOND, START_TIME, END_TIME)), 1), 0) AS avg_seconds,
    COALESCE(MAX(TIMESTAMPDIFF(SECOND, START_TIME, END_TIME)), 0) AS max_seconds
FROM USER_SYNC_LOG
WHERE OPERATION_TYPE = 'order_processing'
  AND START_TIME >= UTC_TIMESTAMP() - INTERVAL 1 DAY;
