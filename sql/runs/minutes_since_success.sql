-- Minutes since the last successful (OK) run of a runbook, from the runner's state store.
-- successes = 0 when it never succeeded; minutes is then NULL.
SELECT
    COALESCE((SELECT COUNT(*) FROM runs WHERE runbook = {{ inputs.runbook }} AND status = 'OK' AND mode = 'run' AND outcome = 'completed'), 0)
        AS successes,
    (SELECT minutes_since_success FROM runs_summary WHERE runbook = {{ inputs.runbook }}) AS minutes
