-- Spark SQL sibling of queries/sessions.sql, written by queries/spark/translate.py: do not edit.
-- sessions: one row per key that was issued or used in the window: each key an
-- AssumeRoleWithWebIdentity issued (depth 0) and each key chained from one by AssumeRole
-- (key_lineage), with what was done with it. session_name, project, instance and sub are the
-- root's (the instance the chain started from); role_arn, issued_at, expires_at and issuing_ip
-- are the key's own.
-- The calls are read as their groups (call_groups): the sums, minimums, maximums and sets over
-- the groups are those over the calls. A group names its key by the key's row (key_ref): an
-- integer to group and join on, where the key's event ID is a 36-character string.
WITH g AS (
    SELECT
        key_ref,
        source_ip,
        is_service,
        calls,
        first_call,
        last_call,
        CASE WHEN failed THEN calls ELSE 0 END AS failed,
        CASE WHEN foreign_ip THEN calls ELSE 0 END AS foreign_ip
    FROM call_groups
),
c AS (
    SELECT
        key_ref,
        SUM(calls) AS api_calls,
        CAST(SUM(failed) AS INT) AS api_errors,
        -- Calls made by AWS services on the session's behalf have no client IP to list.
        ARRAY_SORT(COLLECT_SET(source_ip)
            FILTER (WHERE source_ip IS NOT NULL AND NOT is_service)) AS source_ips,
        CAST(SUM(foreign_ip) AS INT) AS foreign_ip_calls,
        MIN(first_call) AS first_call,
        MAX(last_call) AS last_call
    FROM g
    GROUP BY key_ref
)
SELECT
    l.access_key_id,
    a.session_name,
    a.project,
    a.instance,
    a.sub,
    l.role_arn,
    l.issued_at,
    l.expires_at,
    l.issuing_ip,
    COALESCE(c.api_calls, 0) AS api_calls,
    COALESCE(c.api_errors, 0) AS api_errors,
    c.source_ips,
    COALESCE(c.foreign_ip_calls, 0) AS foreign_ip_calls,
    c.first_call,
    c.last_call,
    l.parent_key,
    l.root_key,
    l.depth
FROM key_lineage l
JOIN assumptions a ON l.root_event_id = a.event_id
LEFT JOIN c ON l.key_ref = c.key_ref
WHERE l.in_window OR c.api_calls IS NOT NULL
-- A key ID issued twice in one second (AWS reuses them) is two rows: the session tells them apart.
ORDER BY issued_at, access_key_id, session_name, role_arn, root_key
