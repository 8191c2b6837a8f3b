-- Processing times of the last hour against the 7 days before it (seed 002, Slow
-- Processing: "processing times increasing"), from the processor's metrics database
-- (metrics/edi_metrics.db, one row per file). Times in seconds.
WITH recent AS (
  SELECT duration_ms FROM processing_metrics
  WHERE processed_at >= datetime('now', '-1 hour')
),
baseline AS (
  SELECT duration_ms FROM processing_metrics
  WHERE processed_at >= datetime('now', '-7 days') AND processed_at < datetime('now', '-1 hour')
)
SELECT
  (SELECT COUNT(*) FROM recent) AS files_last_hour,
  ROUND((SELECT AVG(duration_ms) FROM recent) / 1000.0, 1) AS avg_seconds,
  ROUND((SELECT duration_ms FROM recent ORDER BY duration_ms DESC
         LIMIT 1 OFFSET (SELECT COUNT(*) / 20 FROM recent)) / 1000.0, 1) AS p95_seconds,
  ROUND((SELECT AVG(duration_ms) FROM baseline) / 1000.0, 1) AS baseline_avg_seconds,
  ROUND(COALESCE((SELECT AVG(duration_ms) FROM recent), 0)
        / NULLIF((SELECT AVG(duration_ms) FROM baseline), 0), 1) AS increase_ratio
