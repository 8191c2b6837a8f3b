-- Seed 002's weekly "metrics cleanup": rows of files processed more than keep_days ago.
DELETE FROM processing_metrics
WHERE processed_at < datetime('now', {{ '-' ~ inputs.keep_days ~ ' days' }})
