-- pg_terminate_backend is PostgreSQL's (sql/postgres/wms/terminate_backend.sql); SQLite
-- has no backend to end. The runbook never runs this on SQLite: it stops before.
SELECT 0 AS terminated WHERE {{ query.pid }} < 0;
