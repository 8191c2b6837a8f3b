-- Each batch in stock expiring within warning_days (see sql/wms/expiring_list.sql).
SELECT
    b.batch_no,
    w.code AS warehouse,
    p.sku,
    b.quantity,
    b.expiry_date,
    b.expiry_date - CURRENT_DATE AS days_left
FROM wms_batches b
JOIN wms_products p ON p.product_id = b.product_id
JOIN wms_warehouses w ON w.warehouse_id = b.warehouse_id
WHERE b.quantity > 0
  AND b.expiry_date - CURRENT_DATE <= CAST({{ inputs.warning_days }} AS INTEGER)
ORDER BY b.expiry_date, b.batch_no;
