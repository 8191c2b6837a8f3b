-- order-processing: the line of the run in USER_SYNC_LOG, as the scheduled processor wrote it
-- (seed 000 "Check Processing History"), so order-health and the weekly review see it.
-- RECORDS_FAILED counts the orders rejected (and any that could not be written), SUCCESS
-- is 0 when an order could not be written.
INSERT INTO USER_SYNC_LOG (LOG_ID, OPERATION_TYPE, START_TIME, END_TIME, RECORDS_PROCESSED,
                           RECORDS_FAILED, SUCCESS, ERROR_MESSAGE)
VALUES (
    (SELECT COALESCE(MAX(LOG_ID), 0) + 1 FROM USER_SYNC_LOG),
    'order_processing',
    {{ steps.start.value }},
    datetime('now'),
    {{ steps.apply.succeeded }},
    {{ steps.apply.failed }},
    {{ 0 if steps.apply.severity == "CRITICAL" else 1 }},
    {{ none if steps.apply.severity != "CRITICAL"
       else "orders could not be applied: runbook history order-processing" }}
);
