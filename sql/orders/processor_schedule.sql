-- Processor schedule: whether the scheduled order processor still runs every 15 minutes.
-- Minutes since its last run and the result of that run (1 succeeded, 0 failed), how many runs
-- started in the last 2 hours (8 when it keeps its schedule), and how many runs in a row
-- failed since the last success. Mirrors seed 000 "Task Scheduler Not Running"
-- (Get-ScheduledTaskInfo: LastRunTime, LastTaskResult) through USER_SYNC_LOG, which the
-- processor (and order-processing) write at every run. Always one row.
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
    CAST((julianday('now') - julianday(last_run.START_TIME)) * 1440 AS INTEGER)
        AS minutes_since_last_run,
    COALESCE(last_run.SUCCESS, 0) AS last_run_result,
    last_run.ERROR_MESSAGE AS last_error,
    last_run.START_TIME AS last_run_started,
    (SELECT COUNT(*) FROM runs WHERE START_TIME >= datetime('now', '-2 hours')) AS runs_last_2h,
    (SELECT COUNT(*) FROM runs
     WHERE last_success.START_TIME IS NULL OR runs.START_TIME > last_success.START_TIME)
        AS failed_in_a_row
FROM last_success
LEFT JOIN last_run ON 1 = 1;
