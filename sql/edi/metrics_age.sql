-- How far back the metrics database reaches, and how many rows it holds.
SELECT
  COUNT(*) AS metric_rows,
  ROUND(julianday('now') - julianday(MIN(processed_at)), 1) AS oldest_days
FROM processing_metrics
