-- order-processing: the clock of the database (UTC) when the run starts, for USER_SYNC_LOG.
SELECT UTC_TIMESTAMP() AS started;
