-- order-processing: the clock of the database (UTC) when the run starts, for USER_SYNC_LOG.
SELECT CAST(clock_timestamp() AT TIME ZONE 'UTC' AS TIMESTAMP(0)) AS started;
