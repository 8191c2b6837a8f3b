-- Queries running longer than min_seconds (seed 003, P2 step 3). pg_stat_activity is
-- PostgreSQL's (sql/postgres/wms/stuck_queries.sql): SQLite has no server sessions, so
-- this answers no row; the runbook says it needs PostgreSQL before it gets here.
SELECT '' AS name, 0 AS pid, '' AS usename, '' AS application_name, '' AS state,
       0 AS seconds, '' AS query
WHERE {{ inputs.min_seconds }} < 0;
