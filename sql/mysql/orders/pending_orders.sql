-- Pending orders (MariaDB/MySQL version of sql/orders/pending_orders.sql, same columns):
-- how many staged WooCommerce orders wait to be applied to CounterPoint, and how old
-- (in whole minutes, UTC) the oldest and newest of them are. Mirrors seed 000 "Check
-- Pending Orders"; rows with a VALIDATION_ERROR are failed, not waiting.
WITH pending AS (
    SELECT
        CREATED_DT,
        TIMESTAMPDIFF(SECOND, CREATED_DT, UTC_TIMESTAMP()) / 60 AS age_minutes
    FROM USER_ORDER_STAGING
    WHERE IS_APPLIED = 0
      AND VALIDATION_ERROR IS NULL
)
SELECT
    COUNT(*) AS pending_count,
    COALESCE(FLOOR(MAX(age_minutes)), 0) AS oldest_minutes,
    COALESCE(FLOOR(MIN(age_minutes)), 0) AS newest_minutes,
    COALESCE(SUM(age_minutes > {{ inputs.stale_minutes }}), 0) AS stale_count,
    MIN(CREATED_DT) AS oldest_created_dt,
    MAX(CREATED_DT) AS newest_created_dt
FROM pending;
