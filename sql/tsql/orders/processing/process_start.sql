-- order-processing on SQL Server: the clock of the database (UTC) when the run starts.
SELECT CAST(SYSUTCDATETIME() AS DATETIME2(0)) AS started;
