-- Each batch in stock expiring within warning_days (30), the soonest first, for the hint.
SELECT
    b.batch_no,
    w.code AS warehouse,
    p.sku,
    b.quantity,
    b.expiry_date,
    CAST(julianday(b.expiry_date) - julianday(date('now')) AS INTEGER) AS days_left
FROM wms_batches b
JOIN wms_products p ON p.product_id = b.product_id
JOIN wms_warehouses w ON w.warehouse_id = b.warehouse_id
WHERE b.quantity > 0
  AND julianday(b.expiry_date) - julianday(date('now')) <= {{ inputs.warning_days }}
ORDER BY b.expiry_date, b.batch_no;
