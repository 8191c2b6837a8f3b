-- Seed 003 "Run VACUUM ANALYZE (weekly)" is PostgreSQL's (sql/postgres/wms/). On SQLite
-- (the demo) the planner's statistics are refreshed with ANALYZE; SQLite's VACUUM
-- rebuilds the whole file, which a weekly job does not need.
ANALYZE;
