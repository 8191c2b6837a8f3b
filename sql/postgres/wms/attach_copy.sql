-- ATTACH is SQLite's: on PostgreSQL a dump is restored into a scratch database instead
-- (wms-restore-test --param method=pg_dump). This answers why, and changes nothing.
SELECT 'method online restores SQLite copies: use method pg_dump on PostgreSQL' AS error
WHERE {{ vars.backups ~ '/' ~ steps.newest.newest }} IS NULL;
