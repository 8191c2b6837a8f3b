-- Processing history (SQL Server version of sql/orders/processing_history.sql): runs of
-- the order processor in the last 24 hours, failures, orders applied and durations.
-- Mirrors seed 000 "Check Processing History" and "Review Processing Performance".
SELECT
    COUNT(*) AS runs_24h,
    COALESCE(SUM(CASE WHEN SUCCESS = 0 THEN 1 ELSE 0 END), 0) AS failed_runs_24h,
    COALESCE(SUM(RECORDS_PROCESSED), 0) AS records_processed_24h,
    COALESCE(ROUND(AVG(DATEDIFF(SECOND, START_TIME, END_TIME) * 1.0), 1), 0) AS avg_seconds,
    COALESCE(MAX(DATEDIFF(SECOND, START_TIME, END_TIME)), 0) AS max_seconds
FROM dbo.USER_SYNC_LOG
WHERE OPERATION_TYPE = 'order_processing'
  AND START_TIME >= DATEADD(DAY, -1, SYSUTCDATETIME());
