-- order-processing: the line of the run in USER_SYNC_LOG (sql/orders/processing/process_log.sql). MariaDB
-- cannot read the table it inserts into in a VALUES subquery: INSERT ... SELECT instead.
INSERT INTO USER_SYNC_LOG (LOG_ID, OPERATION_TYPE, START_TIME, END_TIME, RECORDS_PROCESSED,
                           RECORDS_FAILED, SUCCESS, ERROR_MESSAGE)
SELECT
    COALESCE(MAX(LOG_ID), 0) + 1,
    'order_processing',
    {{ steps.start.value }},
    UTC_TIMESTAMP(),
    {{ steps.apply.succeeded }},
    {{ steps.apply.failed }},
    {{ 0 if steps.apply.severity == "CRITICAL" else 1 }},
    {{ none if steps.apply.severity != "CRITICAL"
       else "orders could not be applied: runbook history order-processing" }}
FROM USER_SYNC_LOG;
