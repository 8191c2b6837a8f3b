-- Which database the wms connection reaches: the checks that read PostgreSQL's own views
-- (pg_stat_activity, pg_database_size) say clearly when it is not PostgreSQL.
-- This file answers for SQLite (the demo's default); sql/postgres/wms/ for PostgreSQL.
SELECT 'SQLite ' || sqlite_version() AS engine, 0 AS is_postgresql;
