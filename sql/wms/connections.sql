-- Database connections of the WMS database (seed 003, P3 step 2: "count(*) FROM
-- pg_stat_activity WHERE datname = 'wms'"). SQLite has no server connections: 0.
SELECT 0 AS connections;
