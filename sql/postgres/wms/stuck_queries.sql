-- Queries of this database running longer than min_seconds (seed 003, P2 step 3:
-- "(now() - pg_stat_activity.query_start) > interval '5 seconds'"), longest first.
-- `name` names the query in reports (a for_each item is named by it).
-- Not this session's own query, nor idle sessions (their query_start is their last one).
SELECT
    'pid ' || pid || ' (' || COALESCE(NULLIF(application_name, ''), usename, '?') || ')' AS name,
    pid,
    usename,
    application_name,
    state,
    CAST(EXTRACT(EPOCH FROM now() - query_start) AS INTEGER) AS seconds,
    LEFT(query, 200) AS query
FROM pg_stat_activity
WHERE datname = current_database()
  AND pid <> pg_backend_pid()
  AND state <> 'idle'
  AND query_start IS NOT NULL
  AND EXTRACT(EPOCH FROM now() - query_start) > {{ inputs.min_seconds }}
ORDER BY seconds DESC;
