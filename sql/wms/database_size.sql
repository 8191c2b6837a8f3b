-- The WMS database's size (seed 003, weekly task 2: pg_database_size). SQLite: the file's
-- pages. In megabytes, for thresholds and `runbook history --value` as a trend.
SELECT
    ROUND(page_count * page_size / 1048576.0, 2) AS size_mb,
    'main' AS database_name
FROM pragma_page_count(), pragma_page_size();
