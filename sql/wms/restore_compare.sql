-- A restored copy's rows against the live database's, table by table (seed 003 monthly
-- "Test backup restoration"). SQLite: the copy is ATTACHed as `restored` by the step
-- before (its path a bound value).
SELECT
    (SELECT COUNT(*) FROM main.wms_stock) AS live_stock,
    (SELECT COUNT(*) FROM restored.wms_stock) AS restored_stock,
    (SELECT COUNT(*) FROM main.wms_batches) AS live_batches,
    (SELECT COUNT(*) FROM restored.wms_batches) AS restored_batches,
    (SELECT COUNT(*) FROM main.wms_users) AS live_users,
    (SELECT COUNT(*) FROM restored.wms_users) AS restored_users;
