-- Spark SQL sibling of queries/sessions.sql, written by queries/spark/translate.py: do not edit.
-- sessions: one row per key issued by AssumeRoleWithWebIdentity that was issued or used in the
-- window, with what was done with it.
WITH c AS (
    SELECT
        assumption_event_id,
        COUNT(*) AS api_calls,
        SUM(CASE WHEN error_code IS NOT NULL THEN 1 ELSE 0 END) AS api_errors,
        -- Calls made by AWS services on the session's behalf have no client IP to list.
        ARRAY_SORT(COLLECT_SET(source_ip)
            FILTER (WHERE source_ip IS NOT NULL AND NOT is_service)) AS source_ips,
        SUM(CASE WHEN foreign_ip THEN 1 ELSE 0 END) AS foreign_ip_calls,
        MIN(event_time) AS first_call,
        MAX(event_time) AS last_call
    FROM calls
    GROUP BY assumption_event_id
)
SELECT
    a.access_key_id,
    a.session_name,
    a.project,
    a.instance,
    a.sub,
    a.role_arn,
    a.event_time AS issued_at,
    a.expires_at,
    a.issuing_ip,
    COALESCE(c.api_calls, 0) AS api_calls,
    COALESCE(c.api_errors, 0) AS api_errors,
    c.source_ips,
    COALESCE(c.foreign_ip_calls, 0) AS foreign_ip_calls,
    c.first_call,
    c.last_call
FROM assumptions a
LEFT JOIN c ON a.event_id = c.assumption_event_id
WHERE a.error_code IS NULL
    AND a.access_key_id IS NOT NULL
    AND (a.in_window OR c.api_calls IS NOT NULL)
ORDER BY issued_at, a.access_key_id
