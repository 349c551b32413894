-- failed_assumption_burst (medium): at least `failed_assumption_min` failed
-- AssumeRoleWithWebIdentity calls (AccessDenied, InvalidIdentityToken, ExpiredToken*,
-- IDPRejectedClaim) from the same sub, or from the same source IP, within
-- `failed_assumption_window_s` seconds. One finding per sub or IP; an IP burst that one sub's
-- burst already explains is not reported twice.
--
-- The window slides exactly: it is anchored at every failure and covers [t, t + W). Time is cut
-- into buckets of W seconds, so a window starting in bucket b ends in bucket b or b + 1, and each
-- failure is compared only with those in its own and the next bucket. The cost is linear in the
-- failures times their density per 2W, never quadratic in a group's whole history.
WITH p AS (
    SELECT
        failed_assumption_min AS n,
        failed_assumption_window_s AS w
    FROM findings_params
),
f AS (
    SELECT
        event_id,
        event_time,
        sub,
        issuing_ip,
        error_code,
        session_name,
        project,
        instance,
        CAST(EXTRACT(EPOCH FROM event_time) AS BIGINT) AS ts
    FROM assumptions
    WHERE in_window AND event_time IS NOT NULL AND (
        error_code IN ('AccessDenied', 'InvalidIdentityToken', 'IDPRejectedClaim')
        OR error_code LIKE 'ExpiredToken%'
    )
),
grouped AS (
    SELECT 'sub' AS by_what, sub AS who, * FROM f WHERE sub IS NOT NULL
    UNION ALL
    SELECT 'ip' AS by_what, issuing_ip AS who, * FROM f WHERE issuing_ip IS NOT NULL
),
b AS (
    SELECT
        grouped.*,
        p.n,
        p.w,
        CAST(FLOOR(ts / p.w) AS BIGINT) AS bucket,
        CAST(FLOOR(ts / p.w) AS BIGINT) + 1 AS next_bucket
    FROM grouped CROSS JOIN p
),
pairs AS (
    SELECT a.by_what, a.who, a.event_id AS anchor, a.n, e.event_id, e.event_time, e.sub,
        e.issuing_ip, e.error_code, e.session_name, e.project, e.instance
    FROM b a
    JOIN b e ON a.by_what = e.by_what AND a.who = e.who AND a.bucket = e.bucket
    WHERE e.ts >= a.ts AND e.ts < a.ts + a.w
    UNION ALL
    SELECT a.by_what, a.who, a.event_id AS anchor, a.n, e.event_id, e.event_time, e.sub,
        e.issuing_ip, e.error_code, e.session_name, e.project, e.instance
    FROM b a
    JOIN b e ON a.by_what = e.by_what AND a.who = e.who AND a.next_bucket = e.bucket
    WHERE e.ts >= a.ts AND e.ts < a.ts + a.w
),
bursts AS (
    SELECT by_what, who, anchor, COUNT(*) AS in_window
    FROM pairs
    GROUP BY by_what, who, anchor
    HAVING COUNT(*) >= MIN(n)
),
behind AS (
    SELECT DISTINCT x.by_what, x.who, x.event_id, x.event_time, x.sub, x.issuing_ip, x.error_code,
        x.session_name, x.project, x.instance
    FROM pairs x
    JOIN bursts s ON x.by_what = s.by_what AND x.who = s.who AND x.anchor = s.anchor
),
peak AS (
    SELECT by_what, who, MAX(in_window) AS peak FROM bursts GROUP BY by_what, who
),
code_counts AS (
    SELECT by_what, who, error_code, COUNT(*) AS times
    FROM behind
    GROUP BY by_what, who, error_code
),
codes AS (
    SELECT by_what, who, error_code || ' x' || CAST(times AS STRING) AS code FROM code_counts
),
code_list AS (
    SELECT by_what, who, ARRAY_TO_STRING(ARRAY_AGG(code ORDER BY code), ', ') AS codes
    FROM codes
    GROUP BY by_what, who
),
g AS (
    SELECT
        by_what,
        who,
        MIN(event_time) AS first_seen,
        MAX(event_time) AS last_seen,
        COUNT(*) AS events,
        COUNT(DISTINCT sub) AS subs,
        SUM(CASE WHEN sub IS NULL THEN 1 ELSE 0 END) AS without_sub,
        MIN(sub) AS one_sub,
        COUNT(DISTINCT issuing_ip) AS ips,
        MIN(issuing_ip) AS one_ip,
        COUNT(DISTINCT session_name) AS names,
        MIN(session_name) AS one_name,
        MIN(project) AS one_project,
        MIN(instance) AS one_instance,
        ARRAY_TO_STRING(ARRAY_AGG(DISTINCT session_name ORDER BY session_name), ', ') AS name_list
    FROM behind
    GROUP BY by_what, who
),
reported AS (
    SELECT g.*
    FROM g
    WHERE by_what = 'sub' OR NOT (
        subs = 1 AND without_sub = 0
        AND one_sub IN (SELECT who FROM g WHERE by_what = 'sub')
    )
)
SELECT
    'failed_assumption_burst' AS kind,
    'medium' AS severity,
    CASE WHEN FALSE THEN r.one_sub END AS access_key_id,
    CASE WHEN r.names = 1 THEN r.one_name END AS session_name,
    CASE WHEN r.names = 1 THEN r.one_project END AS project,
    CASE WHEN r.names = 1 THEN r.one_instance END AS instance,
    CASE WHEN r.subs = 1 AND r.without_sub = 0 THEN r.one_sub END AS sub,
    CASE WHEN r.ips = 1 THEN r.one_ip END AS source_ip,
    r.first_seen,
    r.last_seen,
    r.events,
    CAST(r.events AS STRING) || ' failed AssumeRoleWithWebIdentity from ' || r.by_what || ' '
        || r.who || ', up to ' || CAST(k.peak AS STRING) || ' within '
        || CAST(p.w AS STRING) || 's (' || c.codes || '); session names: '
        || COALESCE(r.name_list, '(none)') AS detail
FROM reported r
JOIN peak k ON r.by_what = k.by_what AND r.who = k.who
JOIN code_list c ON r.by_what = c.by_what AND r.who = c.who
CROSS JOIN p
