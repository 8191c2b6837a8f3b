-- Batches in stock by days to expiry (what wms_inventory_expiry_warnings_total{urgency}
-- counts and send_expiry_alerts mails): within 7 days, within 30 days, already expired.
-- SQLite keeps dates as text; sql/postgres/wms/ has the same for DATE columns.
SELECT
    COALESCE(SUM(CASE WHEN julianday(expiry_date) - julianday(date('now')) <= 7 THEN 1 ELSE 0 END), 0)
        AS expiring_7d,
    COALESCE(SUM(CASE WHEN julianday(expiry_date) - julianday(date('now')) <= 30 THEN 1 ELSE 0 END), 0)
        AS expiring_30d,
    COALESCE(SUM(CASE WHEN expiry_date < date('now') THEN 1 ELSE 0 END), 0) AS expired
FROM wms_batches
WHERE quantity > 0;
