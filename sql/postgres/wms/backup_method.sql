-- How wms-backup and wms-restore-test back up (see sql/wms/backup_method.sql): on
-- PostgreSQL, `auto` is pg_dump.
SELECT
    version() AS engine,
    CASE WHEN CAST({{ inputs.method }} AS TEXT) = 'auto' THEN 'pg_dump'
         ELSE CAST({{ inputs.method }} AS TEXT) END AS method
