-- Pending orders: how many staged WooCommerce orders wait to be applied to CounterPoint,
-- and how old (in minutes) the oldest and newest of them are.
-- Mirrors seed 000 "Check Pending Orders" (PendingCount, OldestOrder, NewestOrder).
-- Unlike the seed, rows with a VALIDATION_ERROR are left out: they are failed, not
-- waiting, and failed_orders.sql counts them, so no order is counted twice.
-- Ages are 0 when nothing is pending, so thresholds always have a number to compare.
SELECT
    COUNT(*) AS pending_count,
    COALESCE(CAST(MAX(julianday('now') - julianday(CREATED_DT)) * 1440 AS INTEGER), 0)
        AS oldest_minutes,
    COALESCE(CAST(MIN(julianday('now') - julianday(CREATED_DT)) * 1440 AS INTEGER), 0)
        AS newest_minutes,
    COALESCE(SUM((julianday('now') - julianday(CREATED_DT)) * 1440 > {{ inputs.stale_minutes }}), 0)
        AS stale_count,
    MIN(CREATED_DT) AS oldest_created_dt,
    MAX(CREATED_DT) AS newest_created_dt
FROM USER_ORDER_STAGING
WHERE IS_APPLIED = 0
  AND VALIDATION_ERROR IS NULL;
