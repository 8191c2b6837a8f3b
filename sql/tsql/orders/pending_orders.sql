-- Pending orders (SQL Server version of sql/orders/pending_orders.sql, same columns):
-- how many staged WooCommerce orders wait to be applied to CounterPoint, and how old
-- (in whole minutes, UTC) the oldest and newest of them are. Mirrors seed 000 "Check
-- Pending Orders"; rows with a VALIDATION_ERROR are failed, not waiting.
WITH pending AS (
    SELECT
        CREATED_DT,
        DATEDIFF(SECOND, CREATED_DT, SYSUTCDATETIME()) / 60.0 AS age_minutes
    FROM dbo.USER_ORDER_STAGING
    WHERE IS_APPLIED = 0
      AND VALIDATION_ERROR IS NULL
)
SELECT
    COUNT(*) AS pending_count,
    COALESCE(CAST(FLOOR(MAX(age_minutes)) AS INT), 0) AS oldest_minutes,
    COALESCE(CAST(FLOOR(MIN(age_minutes)) AS INT), 0) AS newest_minutes,
    COALESCE(SUM(CASE WHEN age_minutes > {{ inputs.stale_minutes }} THEN 1 ELSE 0 END), 0)
        AS stale_count,
    MIN(CREATED_DT) AS oldest_created_dt,
    MAX(CREATED_DT) AS newest_created_dt
FROM pending;
