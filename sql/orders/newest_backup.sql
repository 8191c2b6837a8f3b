-- Backup check (seed 001 section 7), from the server's own backup history. Only SQL
-- Server keeps one (sql/tsql/orders/newest_backup.sql reads msdb.dbo.backupset). Any
-- other database answers "no backup known" (999999 minutes, CRITICAL) with the reason:
-- its backups are files, which method files checks.
SELECT
    999999 AS newest_minutes,
    0 AS backup_count,
    'no backup history in this database: check the backup files (method files)' AS note;
