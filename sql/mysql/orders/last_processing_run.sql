-- Last processing run (MariaDB/MySQL version of sql/orders/last_processing_run.sql):
-- when the scheduled order processor last ran, whether it succeeded, and minutes (UTC)
-- since the last run and the last successful one. Mirrors seed 000 "Check Task
-- Scheduler status" through USER_SYNC_LOG. Always one row.
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
    TIMESTAMPDIFF(MINUTE, last_run.START_TIME, UTC_TIMESTAMP()) AS minutes_since_last_run,
    COALESCE(last_run.SUCCESS, 0) AS last_run_success,
    last_run.ERROR_MESSAGE AS last_error,
    COALESCE(last_run.RECORDS_PROCESSED, 0) AS records_processed,
    COALESCE(last_run.RECORDS_FAILED, 0) AS records_failed,
    last_run.START_TIME AS last_run_started,
    TIMESTAMPDIFF(MINUTE, last_success.START_TIME, UTC_TIMESTAMP()) AS minutes_since_last_success
FROM last_success
LEFT JOIN last_run ON 1 = 1;
