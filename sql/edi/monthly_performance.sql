-- Seed 002's monthly "performance analysis": the last 30 days of the metrics database
-- against the 30 before them. Times in seconds, rates in percent.
WITH month AS (
  SELECT duration_ms, status FROM processing_metrics
  WHERE processed_at >= datetime('now', '-30 days')
),
before AS (
  SELECT duration_ms FROM processing_metrics
  WHERE processed_at >= datetime('now', '-60 days') AND processed_at < datetime('now', '-30 days')
)
SELECT
  (SELECT COUNT(*) FROM month) AS files,
  ROUND((SELECT COUNT(*) FROM month) / 30.0, 1) AS files_per_day,
  ROUND(100.0 * (SELECT COUNT(*) FROM month WHERE status = 'failed')
        / NULLIF((SELECT COUNT(*) FROM month), 0), 2) AS error_rate_percent,
  ROUND((SELECT AVG(duration_ms) FROM month) / 1000.0, 2) AS avg_seconds,
  ROUND((SELECT duration_ms FROM month ORDER BY duration_ms DESC
         LIMIT 1 OFFSET (SELECT COUNT(*) / 20 FROM month)) / 1000.0, 2) AS p95_seconds,
  ROUND((SELECT AVG(duration_ms) FROM before) / 1000.0, 2) AS previous_avg_seconds
