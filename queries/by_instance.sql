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
-- Written for polars' planners: the assumptions whose keys were used are found by a join (an
-- `x IN (subquery)` under OR made the streaming engine compare every pair), and what is summed
-- is computed per row first (a SUM over a CASE runs group by group). They are the roots of the
-- keys key_lineage marks used_in_window (matched to the window's calls as calls.sql matches):
-- the same set as the distinct assumption_event_id of calls, without a pass over every call.
WITH used AS (
    SELECT DISTINCT root_event_id AS used_id FROM key_lineage WHERE used_in_window
),
-- Named, not `r.*`: a dataset's assumptions are then read with these columns only.
relevant AS (
    SELECT
        r.project, r.instance, r.session_name, r.sub, r.role_arn, r.access_key_id,
        r.error_code, r.issuing_ip, r.instance_source,
        CASE WHEN r.in_window AND r.error_code IS NULL THEN 1 ELSE 0 END AS ok_in_window,
        CASE WHEN r.in_window AND r.error_code IS NOT NULL THEN 1 ELSE 0 END AS failed_in_window,
        CASE WHEN r.in_window THEN r.event_time END AS time_in_window
    FROM assumptions r
    LEFT JOIN used u ON r.event_id = u.used_id
    WHERE r.in_window OR u.used_id IS NOT NULL
),
a AS (
    SELECT
        project,
        instance,
        session_name,
        ARRAY_AGG(DISTINCT sub ORDER BY sub) FILTER (WHERE sub IS NOT NULL) AS subs,
        ARRAY_AGG(DISTINCT role_arn ORDER BY role_arn) FILTER (WHERE role_arn IS NOT NULL) AS role_arns,
        SUM(ok_in_window) AS assumptions,
        SUM(failed_in_window) AS failed_assumptions,
        ARRAY_AGG(DISTINCT access_key_id ORDER BY access_key_id)
            FILTER (WHERE access_key_id IS NOT NULL AND error_code IS NULL) AS access_keys,
        ARRAY_AGG(DISTINCT issuing_ip ORDER BY issuing_ip)
            FILTER (WHERE issuing_ip IS NOT NULL AND error_code IS NULL) AS source_ips,
        MIN(time_in_window) AS first_assumed,
        MAX(time_in_window) AS last_assumed,
        FIRST(instance_source) AS instance_source
    FROM relevant
    GROUP BY project, instance, session_name
),
-- The calls are read as their groups (call_groups), never one by one.
flagged AS (
    SELECT
        issued_session_name AS session_name,
        event_source,
        first_call,
        last_call,
        calls,
        CASE WHEN failed THEN calls ELSE 0 END AS failed,
        CASE WHEN foreign_ip THEN calls ELSE 0 END AS from_foreign_ip,
        CASE WHEN depth > 0 THEN calls ELSE 0 END AS chained
    FROM call_groups
),
c AS (
    SELECT
        session_name,
        SUM(calls) AS api_calls,
        CAST(SUM(failed) AS INT) AS api_errors,
        CAST(SUM(from_foreign_ip) AS INT) AS foreign_ip_calls,
        ARRAY_AGG(DISTINCT event_source ORDER BY event_source) FILTER (WHERE event_source IS NOT NULL) AS services,
        MIN(first_call) AS first_call,
        MAX(last_call) AS last_call,
        CAST(SUM(chained) AS INT) AS chained_calls
    FROM flagged
    GROUP BY session_name
),
chains AS (
    SELECT
        r.session_name,
        ARRAY_AGG(DISTINCT l.role_arn ORDER BY l.role_arn) FILTER (WHERE l.role_arn IS NOT NULL) AS chained_roles
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
