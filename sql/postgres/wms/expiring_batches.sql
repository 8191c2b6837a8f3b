-- Batches in stock by days to expiry (see sql/wms/expiring_batches.sql).
SELECT
    COUNT(*) FILTER (WHERE expiry_date - CURRENT_DATE <= 7) AS expiring_7d,
    COUNT(*) FILTER (WHERE expiry_date - CURRENT_DATE <= 30) AS expiring_30d,
    COUNT(*) FILTER (WHERE expiry_date < CURRENT_DATE) AS expired
FROM wms_batches
WHERE quantity > 0;
