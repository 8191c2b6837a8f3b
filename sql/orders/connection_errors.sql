-- Connection errors: how often the pipelines tasks (the order processor and the status
-- sync) could not reach the database in the last 24 hours, by kind ("Connection failed"
-- or "Timeout expired", as seed 000 "Database Connection Errors" names the symptoms),
-- and how long ago the last one was. Always one row, 0 and NULL when there was none.
SELECT
    COUNT(*) AS connection_errors_24h,
    COALESCE(SUM(CASE WHEN ERROR_MESSAGE LIKE 'Connection failed%' THEN 1 ELSE 0 END), 0)
        AS connection_failures_24h,
    COALESCE(SUM(CASE WHEN ERROR_MESSAGE LIKE 'Timeout%' THEN 1 ELSE 0 END), 0)
        AS timeouts_24h,
    CAST((julianday('now') - julianday(MAX(START_TIME))) * 1440 AS INTEGER)
        AS minutes_since_last_error
FROM USER_SYNC_LOG
WHERE START_TIME >= datetime('now', '-1 day')
  AND (ERROR_MESSAGE LIKE 'Connection failed%' OR ERROR_MESSAGE LIKE 'Timeout%');
