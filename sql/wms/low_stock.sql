-- Stock below its product's reorder level (available = quantity - reserved), and out of
-- stock, over every warehouse. The same on SQLite and PostgreSQL.
SELECT
    COALESCE(SUM(CASE WHEN s.quantity - s.reserved < p.reorder_level THEN 1 ELSE 0 END), 0)
        AS below_reorder,
    COALESCE(SUM(CASE WHEN s.quantity - s.reserved <= 0 THEN 1 ELSE 0 END), 0)
        AS out_of_stock
FROM wms_stock s
JOIN wms_products p ON p.product_id = s.product_id;
