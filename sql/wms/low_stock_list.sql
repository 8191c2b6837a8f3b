-- Each stock row below its product's reorder level, the emptiest first, for the hint.
SELECT
    w.code AS warehouse,
    p.sku,
    p.name,
    s.quantity - s.reserved AS available,
    p.reorder_level
FROM wms_stock s
JOIN wms_products p ON p.product_id = s.product_id
JOIN wms_warehouses w ON w.warehouse_id = s.warehouse_id
WHERE s.quantity - s.reserved < p.reorder_level
ORDER BY s.quantity - s.reserved, w.code, p.sku;
