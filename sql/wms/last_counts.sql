-- The counters this runbook's counting step read at its last recorded run, from the
-- runner's own history (the `state` connection; sql/postgres/wms/ for a shared
-- PostgreSQL store), so that a rate is worked out over the time since then instead of
-- over the backend's lifetime (a ten-minute outage after days of uptime stays under 1 %
-- of the lifetime counters). part/whole: errors/requests of step error_rate, or
-- failed/tasks of the Celery steps (tasks, celery_stats). found = 0 when no earlier run
-- read them (the rate is then since the backend started). Runs whose step read no
-- counters (the backend was down) are passed over.
WITH last AS (
    SELECT
        COALESCE(json_extract(s.values_json, '$.errors'), json_extract(s.values_json, '$.failed'))
            AS part,
        COALESCE(json_extract(s.values_json, '$.requests'), json_extract(s.values_json, '$.tasks'))
            AS whole,
        r.started AS started
    FROM runs r
    JOIN step_results s ON s.run_id = r.run_id
    WHERE r.runbook = {{ run.runbook }}
      AND r.run_id <> {{ run.id }}
      AND r.mode = 'run'
      AND s.parent_seq IS NULL
      AND s.step_id IN ('error_rate', 'tasks', 'celery_stats')
      AND s.values_json IS NOT NULL
      AND COALESCE(json_extract(s.values_json, '$.errors'), json_extract(s.values_json, '$.failed')) IS NOT NULL
      AND COALESCE(json_extract(s.values_json, '$.requests'), json_extract(s.values_json, '$.tasks')) IS NOT NULL
    ORDER BY r.started DESC
    LIMIT 1
)
SELECT
    (SELECT COUNT(*) FROM last) AS found,
    (SELECT CAST(part AS REAL) FROM last) AS part,
    (SELECT CAST(whole AS REAL) FROM last) AS whole,
    (SELECT CAST(ROUND((julianday('now') - julianday(started)) * 1440) AS INTEGER) FROM last)
        AS minutes_ago
