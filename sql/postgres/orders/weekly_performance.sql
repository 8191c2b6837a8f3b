-- Weekly maintenance (seed 000 "Review Processing Performance"); PostgreSQL version: the order
-- processor over the last 7 days (the input performance_days), from USER_SYNC_LOG: how
-- many runs, how long they took on average and at most, in seconds, and how many failed.
SELECT
    COUNT(*) AS total_runs,
    COUNT(*) FILTER (WHERE SUCCESS = 0) AS failed_runs,
    COALESCE(SUM(RECORDS_PROCESSED), 0) AS records_processed,
    COALESCE(ROUND(AVG(EXTRACT(EPOCH FROM END_TIME - START_TIME)), 1), 0) AS avg_seconds,
    COALESCE(CAST(ROUND(MAX(EXTRACT(EPOCH FROM END_TIME - START_TIME))) AS INTEGER), 0)
        AS max_seconds
FROM USER_SYNC_LOG
WHERE OPERATION_TYPE = 'order_processing'
  AND START_TIME >= (now() AT TIME ZONE 'UTC')
      - CAST({{ inputs.performance_days }} AS INTEGER) * INTERVAL '1 day';
