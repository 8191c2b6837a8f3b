-- Weekly maintenance (seed 000 "Review Processing Performance"): the order
-- processor over the last 7 days (the input performance_days), from USER_SYNC_LOG: how
-- many runs, how long they took on average and at most, in seconds, and how many failed.
SELECT
    COUNT(*) AS total_runs,
    COALESCE(SUM(SUCCESS = 0), 0) AS failed_runs,
    COALESCE(SUM(RECORDS_PROCESSED), 0) AS records_processed,
    COALESCE(ROUND(AVG((julianday(END_TIME) - julianday(START_TIME)) * 86400), 1), 0)
        AS avg_seconds,
    COALESCE(CAST(ROUND(MAX((julianday(END_TIME) - julianday(START_TIME)) * 86400)) AS INTEGER), 0)
        AS max_seconds
FROM USER_SYNC_LOG
WHERE OPERATION_TYPE = 'order_processing'
  AND START_TIME >= datetime('now', '-' || {{ inputs.performance_days }} || ' days');
