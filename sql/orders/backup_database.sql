-- Backup (seed 001 section 7, "Backup/Recovery Procedures"), the SQL way. Only SQL Server
-- backs up with SQL (sql/tsql/orders/backup_database.sql: BACKUP DATABASE WITH CHECKSUM,
-- then RESTORE VERIFYONLY). Any other database gets this answer, which the runbook
-- reports as a failed check: SQLite backs up with method online, PostgreSQL with pg_dump.
SELECT
    NULL AS backup_file,
    'no backup SQL for this database: use method online (SQLite) or pg_dump (PostgreSQL)'
        AS integrity_check;
