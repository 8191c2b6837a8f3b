-- The SQLite copy of wms-backup (method online) attached beside the live database as
-- `restored`, its path a bound value (wms-restore-test): in the folder the files step
-- `newest` looked in, absolute (a relative WMS_BACKUPS starts at runner.yaml's folder,
-- not at the working folder SQLite would open it from).
ATTACH DATABASE {{ steps.newest.folder ~ '/' ~ steps.newest.newest }} AS restored;
