-- Connection errors (PostgreSQL version of sql/orders/connection_errors.sql): the
-- pipeline's "Connection failed" and "Timeout" errors in USER_SYNC_LOG over the last 24
-- hours (UTC) and minutes since the last one. Always one row.
SELECT
    COUNT(*) AS connection_errors_24h,
    COUNT(*) FILTER (WHERE ERROR_MESSAGE LIKE 'Connection failed%') AS connection_failures_24h,
    COUNT(*) FILTER (WHERE ERROR_MESSAGE LIKE 'Timeout%') AS timeouts_24h,
    CAST(FLOOR(EXTRACT(EPOCH FROM (now() AT TIME ZONE 'UTC') - MAX(START_TIME)) / 60)
        AS INTEGER) AS minutes_since_last_error
FROM USER_SYNC_LOG
WHERE START_TIME >= (now() AT TIME ZONE 'UTC') - INTERVAL '1 day'
  AND (ERROR_MESSAGE LIKE 'Connection failed%' OR ERROR_MESSAGE LIKE 'Timeout%');
