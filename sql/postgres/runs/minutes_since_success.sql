-- Minutes since the last successful (OK) run of a runbook, from a shared PostgreSQL
-- state store (`state: {odbc: ...}` in runner.yaml); the same columns as
-- sql/runs/minutes_since_success.sql on SQLite.
-- successes = 0 when it never succeeded; minutes is then NULL.
SELECT
    CAST(COUNT(*) AS INTEGER) AS successes,
    (SELECT minutes_since_success FROM runs_summary WHERE runbook = {{ inputs.runbook }}) AS minutes
FROM runs
WHERE runbook = {{ inputs.runbook }} AND status = 'OK' AND mode = 'run' AND outcome = 'completed'
