-- Connection errors (MariaDB/MySQL version of sql/orders/connection_errors.sql): the
-- pipeline's "Connection failed" and "Timeout" errors in USER_SYNC_LOG over the last 24
-- hours (UTC) and minutes since the last one. Always one row.
SELECT
    COUNT(*) AS connection_errors_24h,
    COALESCE(SUM(ERROR_MESSAGE LIKE 'Connection failed%'), 0) AS connection_failures_24h,
    COALESCE(SUM(ERROR_MESSAGE LIKE 'Timeout%'), 0) AS timeouts_24h,
    TIMESTAMPDIFF(MINUTE, MAX(START_TIME), UTC_TIMESTAMP()) AS minutes_since_last_error
FROM USER_SYNC_LOG
WHERE START_TIME >= UTC_TIMESTAMP() - INTERVAL 1 DAY
  AND (ERROR_MESSAGE LIKE 'Connection failed%' OR ERROR_MESSAGE LIKE 'Timeout%');
