-- Active accounts not used for inactive_days (see sql/wms/inactive_users.sql).
SELECT
    username,
    role,
    last_login,
    CAST(EXTRACT(DAY FROM now() - last_login) AS INTEGER) AS days_since_login
FROM wms_users
WHERE is_active = 1
  AND (last_login IS NULL OR last_login < now() - make_interval(days => {{ inputs.inactive_days }}))
ORDER BY last_login;
