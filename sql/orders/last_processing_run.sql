-- Last processing run: when the scheduled order processor last ran, whether that run
-- succeeded, what it reported, and how long ago the last successful run was.
-- Mirrors seed 000 "Check Task Scheduler status" ("Task Scheduler: Last run within last
-- hour", LastTaskResult 0x0) through the processor's own log, USER_SYNC_LOG.
-- Always one row: with no run logged at all, last_run_success is 0 and the ages are NULL.
WITH last_run AS (
    SELECT START_TIME, SUCCESS, ERROR_MESSAGE, RECORDS_PROCESSED, RECORDS_FAILED
    FROM USER_SYNC_LOG
    WHERE OPERATION_TYPE = 'order_processing'
    ORDER BY START_TIME DESC, LOG_ID DESC
    LIMIT 1
),
last_success AS (
    SELECT MAX(START_TIME) AS START_TIME
    FROM USER_SYNC_LOG
    WHERE OPERATION_TYPE = 'order_processing'
      AND SUCCESS = 1
)
SELECT
    CAST((julianday('now') - julianday(last_run.START_TIME)) * 1440 AS INTEGER)
        AS minutes_since_last_run,
    COALESCE(last_run.SUCCESS, 0) AS last_run_success,
    last_run.ERROR_MESSAGE AS last_error,
    COALESCE(last_run.RECORDS_PROCESSED, 0) AS records_processed,
    COALESCE(last_run.RECORDS_FAILED, 0) AS records_failed,
    last_run.START_TIME AS last_run_started,
    CAST((julianday('now') - julianday(last_success.START_TIME)) * 1440 AS INTEGER)
        AS minutes_since_last_success
FROM last_success
LEFT JOIN last_run ON 1 = 1;
