-- The SQLite copy of wms-backup (method online) attached beside the live database as
-- `restored`, its path a bound value (wms-restore-test).
ATTACH DATABASE {{ vars.backups ~ '/' ~ steps.newest.newest }} AS restored;
