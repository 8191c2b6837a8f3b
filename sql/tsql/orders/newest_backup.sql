-- Backup check (seed 001 section 7; SQL Server): how old the newest full backup of the
-- current database is, from the backup history SQL Server keeps in msdb.dbo.backupset
-- (BACKUP DATABASE writes it). No backup at all reads as 999999 minutes.
SELECT
    COALESCE(DATEDIFF(MINUTE, MAX(b.backup_finish_date), GETDATE()), 999999) AS newest_minutes,
    COUNT(*) AS backup_count,
    MAX(b.backup_finish_date) AS newest_backup
FROM msdb.dbo.backupset AS b
WHERE b.database_name = DB_NAME()
  AND b.type = 'D';
