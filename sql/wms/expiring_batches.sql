-- Batches in stock by days to expiry (what wms_inventory_expiry_warnings_total{urgency}
-- counts and send_expiry_alerts mails): within critical_days (7), within warning_days
-- (30), already expired. The day counts are the runbook's inputs: ours, the seed names
-- none. SQLite keeps dates as text; sql/postgres/wms/ has the same for DATE columns.
SELECT
    COALESCE(SUM(CASE WHEN julianday(expiry_date) - julianday(date('now')) <= {{ inputs.critical_days }}
                      THEN 1 ELSE 0 END), 0) AS expiring_critical,
    COALESCE(SUM(CASE WHEN julianday(expiry_date) - julianday(date('now')) <= {{ inputs.warning_days }}
                      THEN 1 ELSE 0 END), 0) AS expiring_warning,
    COALESCE(SUM(CASE WHEN expiry_date < date('now') THEN 1 ELSE 0 END), 0) AS expired
FROM wms_batches
WHERE quantity > 0;
