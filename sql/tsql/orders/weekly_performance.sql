-- Weekly maintenance (seed 000 "Review Processing Performance"); SQL Server version, as the seed writes it: the order
-- processor over the last 7 days (the input performance_days), from USER_SYNC_LOG: how
-- many runs, how long they took on average and at most, in seconds, and how many failed.
SELECT
    COUNT(*) AS total_runs,
    COALESCE(SUM(CASE WHEN SUCCESS = 0 THEN 1 ELSE 0 END), 0) AS failed_runs,
    COALESCE(SUM(RECORDS_PROCESSED), 0) AS records_processed,
    COALESCE(ROUND(AVG(DATEDIFF(SECOND, START_TIME, END_TIME) * 1.0), 1), 0) AS avg_seconds,
    COALESCE(MAX(DATEDIFF(SECOND, START_TIME, END_TIME)), 0) AS max_seconds
FROM dbo.USER_SYNC_LOG
WHERE OPERATION_TYPE = 'order_processing'
  AND START_TIME >= DATEADD(DAY, -{{ inputs.performance_days }}, SYSUTCDATETIME());
