-- Processing history: how the scheduled order processor did over the last 24 hours:
-- how many runs, how many failed, how many orders they applied, and how long runs took.
-- Mirrors seed 000 "Check Processing History" (USER_SYNC_LOG, order_processing) and the
-- weekly "Review Processing Performance" (AvgProcessingTimeSeconds, MaxProcessingTimeSeconds).
-- Runs still in progress (no END_TIME) count as runs but not in the durations.
SELECT
    COUNT(*) AS runs_24h,
    COALESCE(SUM(SUCCESS = 0), 0) AS failed_runs_24h,
    COALESCE(SUM(RECORDS_PROCESSED), 0) AS records_processed_24h,
    COALESCE(ROUND(AVG((julianday(END_TIME) - julianday(START_TIME)) * 86400), 1), 0)
        AS avg_seconds,
    COALESCE(CAST(ROUND(MAX((julianday(END_TIME) - julianday(START_TIME)) * 86400)) AS INTEGER), 0)
        AS max_seconds
FROM USER_SYNC_LOG
WHERE OPERATION_TYPE = 'order_processing'
  AND START_TIME >= datetime('now', '-1 day');
