-- The copy attached by attach_copy.sql, detached again (wms-restore-test's finally).
DETACH DATABASE restored;
