-- "pg_isready" of seed 003's P1 check, as a query: the database answers, and the
-- warehouse's tables are there. The same on SQLite and PostgreSQL.
SELECT
    (SELECT COUNT(*) FROM wms_warehouses) AS warehouses,
    (SELECT COUNT(*) FROM wms_stock) AS stock_rows;
