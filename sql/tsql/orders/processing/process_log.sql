-- order-processing on SQL Server: the line of the run in USER_SYNC_LOG (see
-- sql/orders/processing/process_log.sql).
INSERT INTO dbo.USER_SYNC_LOG (LOG_ID, OPERATION_TYPE, START_TIME, END_TIME,
                               RECORDS_PROCESSED, RECORDS_FAILED, SUCCESS, ERROR_MESSAGE)
SELECT
    COALESCE(MAX(LOG_ID), 0) + 1,
    'order_processing',
    {{ steps.start.value }},
    CAST(SYSUTCDATETIME() AS DATETIME2(0)),
    {{ steps.apply.succeeded }},
    {{ steps.apply.failed }},
    {{ 0 if steps.apply.severity == "CRITICAL" else 1 }},
    {{ none if steps.apply.severity != "CRITICAL"
       else "orders could not be applied: runbook history order-processing" }}
FROM dbo.USER_SYNC_LOG;
