-- Batches in stock by days to expiry (see sql/wms/expiring_batches.sql).
SELECT
    COUNT(*) FILTER (WHERE expiry_date - CURRENT_DATE <= CAST({{ inputs.critical_days }} AS INTEGER))
        AS expiring_critical,
    COUNT(*) FILTER (WHERE expiry_date - CURRENT_DATE <= CAST({{ inputs.warning_days }} AS INTEGER))
        AS expiring_warning,
    COUNT(*) FILTER (WHERE expiry_date < CURRENT_DATE) AS expired
FROM wms_batches
WHERE quantity > 0;
