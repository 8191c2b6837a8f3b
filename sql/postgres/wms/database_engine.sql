-- Which database the wms connection reaches (see sql/wms/database_engine.sql).
SELECT version() AS engine, 1 AS is_postgresql;
