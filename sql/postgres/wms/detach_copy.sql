-- Nothing is attached on PostgreSQL (see attach_copy.sql).
SELECT 1 AS detached;
