-- Processor schedule (MariaDB/MySQL version of sql/orders/processor_schedule.sql):
-- minutes (UTC) since the order processor's last run and its result, runs started in the
-- last 2 hours, and failed runs in a row since the last success. Mirrors seed 000 "Task
-- Scheduler Not Running" through USER_SYNC_LOG. Always one row.
WITH runs AS (
    SELECT LOG_ID, START_TIME, SUCCESS, ERROR_MESSAGE
    FROM USER_SYNC_LOG
    WHERE OPERATION_TYPE = 'order_processing'
),
last_run AS (
    SELECT START_TIME, SUCCESS, ERROR_MESSAGE
    FROM runs
    ORDER BY START_TIME DESC, LOG_ID DESC
    LIMIT 1
),
last_success AS (
    SELECT MAX(START_TIME) AS START_TIME FROM runs WHERE SUCCESS = 1
)
SELECT
    TIMESTAMPDIFF(MINUTE, last_run.START_TIME, UTC_TIMESTAMP()) AS minutes_since_last_run,
    COALESCE(last_run.SUCCESS, 0) AS last_run_result,
    last_run.ERROR_MESSAGE AS last_error,
    last_run.START_TIME AS last_run_started,
    (SELECT COUNT(*) FROM runs WHERE START_TIME >= UTC_TIMESTAMP() - INTERVAL 2 HOUR)
        AS runs_last_2h,
    (SELECT COUNT(*) FROM runs
     WHERE last_success.START_TIME IS NULL OR runs.START_TIME > last_success.START_TIME)
        AS failed_in_a_row
FROM last_success
LEFT JOIN last_run ON 1 = 1;
