-- How wms-backup and wms-restore-test back up (review item 4): the `method` input, and
-- for `auto` the one of this database's engine: SQLite's online backup API here, pg_dump
-- on PostgreSQL (sql/postgres/wms/backup_method.sql).
SELECT
    'SQLite ' || sqlite_version() AS engine,
    CASE WHEN {{ inputs.method }} = 'auto' THEN 'online' ELSE {{ inputs.method }} END AS method
