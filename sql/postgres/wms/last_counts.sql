-- The counters this runbook's counting step read at its last recorded run, from a shared
-- PostgreSQL state store (`state: {odbc: ...}` in runner.yaml); the same columns as
-- sql/wms/last_counts.sql on SQLite, which says why.
WITH last AS (
    SELECT
        COALESCE(CAST(s.values_json AS json) ->> 'errors', CAST(s.values_json AS json) ->> 'failed')
            AS part,
        COALESCE(CAST(s.values_json AS json) ->> 'requests', CAST(s.values_json AS json) ->> 'tasks')
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
      AND COALESCE(CAST(s.values_json AS json) ->> 'errors', CAST(s.values_json AS json) ->> 'failed') IS NOT NULL
      AND COALESCE(CAST(s.values_json AS json) ->> 'requests', CAST(s.values_json AS json) ->> 'tasks') IS NOT NULL
    ORDER BY r.started DESC
    LIMIT 1
)
SELECT
    CAST((SELECT COUNT(*) FROM last) AS INTEGER)
        AS found,
    (SELECT CAST(part AS DOUBLE PRECISION) FROM last) AS part,
    (SELECT CAST(whole AS DOUBLE PRECISION) FROM last) AS whole,
    (SELECT CAST(ROUND(EXTRACT(EPOCH FROM now() - CAST(started AS TIMESTAMPTZ)) / 60) AS INTEGER)
       FROM last) AS minutes_ago
