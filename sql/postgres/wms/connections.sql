-- Database connections of the WMS database (seed 003, P3 step 2), by state as the
-- seed's "Watch database connections" groups them.
SELECT
    COUNT(*) AS connections,
    COUNT(*) FILTER (WHERE state = 'active') AS active,
    COUNT(*) FILTER (WHERE state = 'idle') AS idle,
    COUNT(*) FILTER (WHERE state LIKE 'idle in transaction%') AS idle_in_transaction
FROM pg_stat_activity
WHERE datname = current_database();
