-- Connection errors (SQL Server version of sql/orders/connection_errors.sql): the
-- pipeline's "Connection failed" and "Timeout" errors in USER_SYNC_LOG over the last 24
-- hours (UTC) and minutes since the last one. Always one row.
SELECT
    COUNT(*) AS connection_errors_24h,
    COALESCE(SUM(CASE WHEN ERROR_MESSAGE LIKE 'Connection failed%' THEN 1 ELSE 0 END), 0)
        AS connection_failures_24h,
    COALESCE(SUM(CASE WHEN ERROR_MESSAGE LIKE 'Timeout%' THEN 1 ELSE 0 END), 0)
        AS timeouts_24h,
    DATEDIFF(SECOND, MAX(START_TIME), SYSUTCDATETIME()) / 60 AS minutes_since_last_error
FROM dbo.USER_SYNC_LOG
WHERE START_TIME >= DATEADD(DAY, -1, SYSUTCDATETIME())
  AND (ERROR_MESSAGE LIKE 'Connection failed%' OR ERROR_MESSAGE LIKE 'Timeout%');
