-- End one backend (seed 003 "Kill stuck query (emergency only)"): pg_terminate_backend.
-- A number, not a boolean: psqlODBC reads booleans as the text '0' or '1'.
SELECT CASE WHEN pg_terminate_backend({{ query.pid }}) THEN 1 ELSE 0 END AS terminated;
