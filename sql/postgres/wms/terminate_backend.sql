-- End one backend (seed 003 "Kill stuck query (emergency only)"): pg_terminate_backend,
-- true when it was ended.
SELECT pg_terminate_backend({{ query.pid }}) AS terminated;
