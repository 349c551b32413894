-- Spark SQL sibling of queries/by_instance.sql, written by queries/spark/translate.py: do not edit.
-- by-instance: which GCP instance did what in AWS, with which temporary keys, from where.
-- One row per claimed instance, i.e. per role session name; project and instance are parsed from
-- it (instance_source says how).
--
-- Counted in the window: successful and failed assumptions, and every follow-on call, made with
-- the instance's own keys or with keys chained from them by AssumeRole (key_lineage).
-- chained_roles: every role a chain from the instance's keys entered (in the window, or whose
-- key was used in it); chained_calls: the calls made with chained keys.
-- An assumption made before the window whose key was used inside it is included for its key,
-- sub, role and IP, but not counted in `assumptions`.
WITH relevant AS (
    SELECT *
    FROM assumptions
    WHERE in_window OR event_id IN (SELECT assumption_event_id FROM calls)
),
a AS (
    SELECT
        project,
        instance,
        session_name,
        ARRAY_SORT(COLLECT_SET(sub) FILTER (WHERE sub IS NOT NULL)) AS subs,
        ARRAY_SORT(COLLECT_SET(role_arn) FILTER (WHERE role_arn IS NOT NULL)) AS role_arns,
        SUM(CASE WHEN in_window AND error_code IS NULL THEN 1 ELSE 0 END) AS assumptions,
        SUM(CASE WHEN in_window AND error_code IS NOT NULL THEN 1 ELSE 0 END) AS failed_assumptions,
        ARRAY_SORT(COLLECT_SET(access_key_id)
            FILTER (WHERE access_key_id IS NOT NULL AND error_code IS NULL)) AS access_keys,
        ARRAY_SORT(COLLECT_SET(issuing_ip)
            FILTER (WHERE issuing_ip IS NOT NULL AND error_code IS NULL)) AS source_ips,
        MIN(CASE WHEN in_window THEN event_time END) AS first_assumed,
        MAX(CASE WHEN in_window THEN event_time END) AS last_assumed,
        FIRST(instance_source) AS instance_source
    FROM relevant
    GROUP BY project, instance, session_name
),
c AS (
    SELECT
        issued_session_name AS session_name,
        COUNT(*) AS api_calls,
        SUM(CASE WHEN error_code IS NOT NULL THEN 1 ELSE 0 END) AS api_errors,
        SUM(CASE WHEN foreign_ip THEN 1 ELSE 0 END) AS foreign_ip_calls,
        ARRAY_SORT(COLLECT_SET(event_source) FILTER (WHERE event_source IS NOT NULL)) AS services,
        MIN(event_time) AS first_call,
        MAX(event_time) AS last_call,
        SUM(CASE WHEN depth > 0 THEN 1 ELSE 0 END) AS chained_calls
    FROM calls
    GROUP BY issued_session_name
),
chains AS (
    SELECT
        r.session_name,
        ARRAY_SORT(COLLECT_SET(l.role_arn) FILTER (WHERE l.role_arn IS NOT NULL)) AS chained_roles
    FROM key_lineage l
    JOIN assumptions r ON l.root_event_id = r.event_id
    WHERE l.depth > 0 AND (l.in_window OR l.used_in_window)
    GROUP BY r.session_name
)
SELECT
    a.project,
    a.instance,
    a.session_name,
    a.subs,
    a.role_arns,
    a.assumptions,
    a.failed_assumptions,
    a.access_keys,
    COALESCE(c.api_calls, 0) AS api_calls,
    COALESCE(c.api_errors, 0) AS api_errors,
    a.source_ips,
    COALESCE(c.foreign_ip_calls, 0) AS foreign_ip_calls,
    c.services,
    LEAST(a.first_assumed, c.first_call) AS first_seen,
    GREATEST(a.last_assumed, c.last_call) AS last_seen,
    a.instance_source,
    ch.chained_roles,
    COALESCE(c.chained_calls, 0) AS chained_calls
FROM a
LEFT JOIN c ON a.session_name = c.session_name
LEFT JOIN chains ch ON a.session_name = ch.session_name
ORDER BY a.project NULLS LAST, a.instance NULLS LAST, a.session_name
