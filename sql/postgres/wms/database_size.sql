-- The WMS database's size (seed 003, weekly task 2: "pg_database_size ... WHERE datname
-- = 'wms'"), of the database the connection reaches, in megabytes.
SELECT
    ROUND(pg_database_size(current_database()) / 1048576.0, 2) AS size_mb,
    current_database() AS database_name;
