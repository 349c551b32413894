-- activity: API calls per instance (role session name) and hour, for the HTML page's heat strip.
-- `hour` counts hours since 1970-01-01T00:00Z. Calls made with chained keys count for the
-- instance the chain started from, as in by_instance.
SELECT
    issued_session_name AS session_name,
    CAST(FLOOR(EXTRACT(EPOCH FROM event_time) / 3600) AS BIGINT) AS hour,
    COUNT(*) AS calls,
    SUM(CASE WHEN error_code IS NOT NULL THEN 1 ELSE 0 END) AS errors,
    SUM(CASE WHEN foreign_ip THEN 1 ELSE 0 END) AS foreign_calls
FROM calls
GROUP BY issued_session_name, CAST(FLOOR(EXTRACT(EPOCH FROM event_time) / 3600) AS BIGINT)
ORDER BY session_name, hour
