-- Active accounts not used for inactive_days (seed 003, monthly task 6: "users whose
-- last_login < now - 30 days"), the longest unused first.
SELECT
    username,
    role,
    last_login,
    CAST(julianday('now') - julianday(last_login) AS INTEGER) AS days_since_login
FROM wms_users
WHERE is_active = 1
  AND (last_login IS NULL OR julianday('now') - julianday(last_login) > {{ inputs.inactive_days }})
ORDER BY last_login;
