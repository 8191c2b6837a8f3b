-- Seed 003 "Run VACUUM ANALYZE (weekly)", of the whole database. It cannot run inside a
-- transaction: the runbook skips it under --rehearse.
VACUUM ANALYZE;
