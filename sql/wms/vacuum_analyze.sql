-- Seed 003 "Run VACUUM ANALYZE (weekly)". SQLite's VACUUM rebuilds the file and ANALYZE
-- refreshes the planner's statistics: two statements.
VACUUM;
ANALYZE;
