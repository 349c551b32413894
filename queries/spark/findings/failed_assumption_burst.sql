-- Spark SQL sibling of queries/findings/failed_assumption_burst.sql, written by queries/spark/translate.py: do not edit.
-- failed_assumption_burst (medium): at least `failed_assumption_min` failed
-- AssumeRoleWithWebIdentity calls (AccessDenied, InvalidIdentityToken, ExpiredToken*,
-- IDPRejectedClaim) from the same sub, or from the same source IP, within
-- `failed_assumption_window_s` seconds. One finding per sub or IP; an IP burst that one sub's
-- burst already explains is not reported twice.
--
-- The window slides exactly: it is anchored at every second with a failure and covers
-- [t, t + W). Failures are never paired (anyone can send thousands of bad tokens a minute from
-- one IP, and pairs grow with the square of that). The count in [t, t + W) is the number of
-- failures before t + W less those before t: failures are numbered in time order per sub or IP,
-- so each second with failures knows how many came before it (`n_before`) and up to its end
-- (`n_upto`), and the failures before t + W are found by ordering the seconds and the ends
-- t + W together (an end's place in that order, less its place among the ends, is how many
-- seconds with failures come before it). The failures behind a finding are those at or after
-- the start of the latest burst window that starts at or before them, and less than W after
-- it. Sorts and equi-joins only: linear in the failures, however dense.
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
        CAST(UNIX_SECONDS(event_time) AS BIGINT) AS ts
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
-- The window length and threshold ride along in each row instead of a CROSS JOIN p at the
-- comparison: polars turns a cross join under a predicate on both sides into a range join,
-- which its streaming engine cannot run.
b AS (
    SELECT grouped.*, p.n, p.w FROM grouped CROSS JOIN p
),
numbered AS (
    SELECT by_what, who, ts, n, w,
        ROW_NUMBER() OVER (PARTITION BY by_what, who ORDER BY ts) AS k
    FROM b
),
seconds AS (
    SELECT by_what, who, ts, MIN(k) - 1 AS n_before, MAX(k) AS n_upto, MIN(n) AS n, MIN(w) AS w
    FROM numbered
    GROUP BY by_what, who, ts
),
marks AS (
    SELECT by_what, who, ts + w AS mark_ts, 0 AS is_second, ts, n_before, n_upto, n, w
    FROM seconds
    UNION ALL
    SELECT by_what, who, ts AS mark_ts, 1 AS is_second, ts, n_before, n_upto, n, w FROM seconds
),
ordered AS (
    SELECT
        *,
        ROW_NUMBER() OVER (PARTITION BY by_what, who ORDER BY mark_ts, is_second) AS place,
        ROW_NUMBER() OVER (PARTITION BY by_what, who, is_second ORDER BY mark_ts) AS place_in_kind
    FROM marks
),
ends AS (
    SELECT by_what, who, ts, n_before, n, w, place - place_in_kind AS seconds_before
    FROM ordered
    WHERE is_second = 0
),
numbered_seconds AS (
    SELECT by_what, who, place_in_kind AS second_no, n_upto FROM ordered WHERE is_second = 1
),
bursts AS (
    SELECT e.by_what, e.who, e.ts, e.w, s.n_upto - e.n_before AS in_window
    FROM ends e
    JOIN numbered_seconds s
        ON e.by_what = s.by_what AND e.who = s.who AND e.seconds_before = s.second_no
    WHERE s.n_upto - e.n_before >= e.n
),
cover_marks AS (
    SELECT by_what, who, ts, w, 0 AS is_failure FROM bursts
    UNION ALL
    SELECT by_what, who, ts, w, 1 AS is_failure FROM seconds
),
cover_ordered AS (
    SELECT
        *,
        ROW_NUMBER() OVER (PARTITION BY by_what, who ORDER BY ts, is_failure) AS place,
        ROW_NUMBER() OVER (PARTITION BY by_what, who, is_failure ORDER BY ts) AS place_in_kind
    FROM cover_marks
),
cover_starts AS (
    SELECT by_what, who, ts AS start_ts, w, place_in_kind AS window_no
    FROM cover_ordered
    WHERE is_failure = 0
),
cover_failures AS (
    SELECT by_what, who, ts, place - place_in_kind AS windows_before
    FROM cover_ordered
    WHERE is_failure = 1
),
covered AS (
    SELECT x.by_what, x.who, x.ts
    FROM cover_failures x
    JOIN cover_starts s
        ON x.by_what = s.by_what AND x.who = s.who AND x.windows_before = s.window_no
    WHERE x.ts < s.start_ts + s.w
),
behind AS (
    SELECT DISTINCT x.by_what, x.who, x.event_id, x.event_time, x.sub, x.issuing_ip, x.error_code,
        x.session_name, x.project, x.instance,
        COALESCE(DATE_FORMAT(x.event_time, "yyyy-MM-dd'T'HH:mm:ss'Z'"), '') || ' ' || COALESCE(x.event_id, '') AS ev
    FROM b x
    JOIN covered v ON x.by_what = v.by_what AND x.who = v.who AND x.ts = v.ts
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
    SELECT by_what, who, ARRAY_JOIN(ARRAY_SORT(COLLECT_LIST(code)), ', ') AS codes
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
        ARRAY_JOIN(ARRAY_SORT(COLLECT_SET(session_name)), ', ') AS name_list,
        ARRAY_SORT(COLLECT_LIST(ev)) AS evidence
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
    r.evidence,
    CAST(r.events AS STRING) || ' failed AssumeRoleWithWebIdentity from ' || r.by_what || ' '
        || r.who || ', up to ' || CAST(k.peak AS STRING) || ' within '
        || CAST(p.w AS STRING) || 's (' || c.codes || '); session names: '
        || COALESCE(r.name_list, '(none)') AS detail
FROM reported r
JOIN peak k ON r.by_what = k.by_what AND r.who = k.who
JOIN code_list c ON r.by_what = c.by_what AND r.who = c.who
CROSS JOIN p
