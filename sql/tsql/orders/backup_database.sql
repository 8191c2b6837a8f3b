-- Backup (seed 001 section 7, "Backup/Recovery Procedures"; SQL Server version of
-- sql/orders/backup_database.sql): a full backup of the current database to a new file
-- in the folder the input names, on the server, with page checksums, then RESTORE VERIFYONLY reads it back and
-- checks it. The file name is bound as a parameter and handed to sp_executesql as one,
-- so it is never part of the statement text.
DECLARE @file NVARCHAR(400) = {{ inputs.folder }}
    + N'\orders-' + FORMAT(SYSUTCDATETIME(), 'yyyyMMdd-HHmmss') + N'.bak';
DECLARE @sql NVARCHAR(MAX) = N'BACKUP DATABASE ' + QUOTENAME(DB_NAME())
    + N' TO DISK = @file WITH CHECKSUM, INIT, STATS = 100';
EXEC sp_executesql @sql, N'@file NVARCHAR(400)', @file = @file;
SET @sql = N'RESTORE VERIFYONLY FROM DISK = @file WITH CHECKSUM';
EXEC sp_executesql @sql, N'@file NVARCHAR(400)', @file = @file;
SELECT @file AS backup_file, 'ok' AS integrity_check;
