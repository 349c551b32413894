-- recon_burst (medium): one key makes at least `recon_min_distinct` distinct reconnaissance calls
-- (List*, Describe*, Get*Account*, GetCallerIdentity), or at least `recon_min_denied` access-denied
-- errors, within `recon_window_s` seconds. One finding per key, over every event in any window that
-- crossed a threshold. Calls AWS services make on the session's behalf don't count.
--
-- Windows slide exactly, anchored at every qualifying call and covering [t, t + W); see
-- failed_assumption_burst.sql for the bucketing that keeps this linear. For distinct names each
-- (key, name, bucket) is first reduced to its earliest and latest call: a name occurs in
-- [t, t + W) exactly when its latest call in t's bucket is at or after t, or its earliest call in
-- the next bucket is before t + W. A busy key repeating the same few calls therefore stays cheap.
WITH p AS (
    SELECT
        recon_min_distinct AS n_distinct,
        recon_min_denied AS n_denied,
        recon_window_s AS w
    FROM findings_params
),
c AS (
    SELECT
        calls.key_id AS k,
        calls.event_id,
        calls.event_time,
        calls.event_name,
        calls.error_code,
        calls.issued_session_name,
        calls.project,
        calls.instance,
        calls.sub,
        calls.source_ip,
        CAST(EXTRACT(EPOCH FROM calls.event_time) AS BIGINT) AS ts,
        CAST(FLOOR(EXTRACT(EPOCH FROM calls.event_time) / p.w) AS BIGINT) AS bucket,
        (event_name LIKE 'List%' OR event_name LIKE 'Describe%'
            OR (event_name LIKE 'Get%' AND event_name LIKE '%Account%')
            OR event_name = 'GetCallerIdentity') AS is_recon,
        (error_code IN ('AccessDenied', 'AccessDeniedException', 'Client.UnauthorizedOperation',
            'UnauthorizedOperation') OR error_code LIKE '%AccessDenied%') AS is_denied,
        p.w,
        p.n_distinct,
        p.n_denied
    FROM calls CROSS JOIN p
    WHERE NOT calls.is_service AND calls.event_time IS NOT NULL
),
recon AS (SELECT * FROM c WHERE is_recon),
denied AS (SELECT * FROM c WHERE is_denied),
-- Distinct names: anchors are the distinct call times of each key.
name_spans AS (
    SELECT k, event_name, bucket, MIN(ts) AS first_ts, MAX(ts) AS last_ts
    FROM recon
    GROUP BY k, event_name, bucket
),
anchors AS (
    SELECT DISTINCT k, ts, bucket, bucket + 1 AS next_bucket, w, n_distinct FROM recon
),
present AS (
    SELECT a.k, a.ts, a.w, a.n_distinct, s.event_name
    FROM anchors a JOIN name_spans s ON a.k = s.k AND a.bucket = s.bucket
    WHERE s.last_ts >= a.ts
    UNION ALL
    SELECT a.k, a.ts, a.w, a.n_distinct, s.event_name
    FROM anchors a JOIN name_spans s ON a.k = s.k AND a.next_bucket = s.bucket
    WHERE s.first_ts < a.ts + a.w
),
recon_windows AS (
    SELECT k, ts, FIRST(w) AS w, COUNT(DISTINCT event_name) AS hits
    FROM present
    GROUP BY k, ts
    HAVING COUNT(DISTINCT event_name) >= MIN(n_distinct)
),
-- Denials are counted, not distinct: anchors are the denied calls themselves.
denied_anchors AS (
    SELECT event_id AS anchor, k, ts, bucket, bucket + 1 AS next_bucket, w, n_denied FROM denied
),
denied_pairs AS (
    SELECT a.k, a.anchor, a.ts, a.w, a.n_denied, d.event_id
    FROM denied_anchors a JOIN denied d ON a.k = d.k AND a.bucket = d.bucket
    WHERE d.ts >= a.ts AND d.ts < a.ts + a.w
    UNION ALL
    SELECT a.k, a.anchor, a.ts, a.w, a.n_denied, d.event_id
    FROM denied_anchors a JOIN denied d ON a.k = d.k AND a.next_bucket = d.bucket
    WHERE d.ts >= a.ts AND d.ts < a.ts + a.w
),
denied_windows AS (
    SELECT k, anchor, FIRST(ts) AS ts, FIRST(w) AS w, COUNT(*) AS hits
    FROM denied_pairs
    GROUP BY k, anchor
    HAVING COUNT(*) >= MIN(n_denied)
),
-- The events behind a finding: every recon (resp. denied) call inside a window that crossed.
windows AS (
    SELECT k, ts, w, 'recon' AS trigger FROM recon_windows
    UNION ALL
    SELECT k, ts, w, 'denied' AS trigger FROM denied_windows
),
windows_b AS (
    SELECT DISTINCT k, ts, w, trigger, CAST(FLOOR(ts / w) AS BIGINT) AS bucket,
        CAST(FLOOR(ts / w) AS BIGINT) + 1 AS next_bucket
    FROM windows
),
behind_all AS (
    SELECT e.*
    FROM windows_b x JOIN c e ON x.k = e.k AND x.bucket = e.bucket
    WHERE e.ts >= x.ts AND e.ts < x.ts + x.w
        AND ((x.trigger = 'recon' AND e.is_recon) OR (x.trigger = 'denied' AND e.is_denied))
    UNION ALL
    SELECT e.*
    FROM windows_b x JOIN c e ON x.k = e.k AND x.next_bucket = e.bucket
    WHERE e.ts >= x.ts AND e.ts < x.ts + x.w
        AND ((x.trigger = 'recon' AND e.is_recon) OR (x.trigger = 'denied' AND e.is_denied))
),
behind AS (
    SELECT DISTINCT k, event_id, event_time, event_name, error_code, is_recon, is_denied,
        issued_session_name, project, instance, sub, source_ip
    FROM behind_all
),
peaks AS (
    SELECT
        k,
        MAX(CASE WHEN trigger = 'recon' THEN hits END) AS peak_names,
        MAX(CASE WHEN trigger = 'denied' THEN hits END) AS peak_denied
    FROM (
        SELECT k, hits, 'recon' AS trigger FROM recon_windows
        UNION ALL
        SELECT k, hits, 'denied' AS trigger FROM denied_windows
    ) h
    GROUP BY k
),
g AS (
    SELECT
        k,
        FIRST(issued_session_name) AS session_name,
        FIRST(project) AS project,
        FIRST(instance) AS instance,
        FIRST(sub) AS sub,
        COUNT(DISTINCT source_ip) AS ips,
        MIN(source_ip) AS one_ip,
        MIN(event_time) AS first_seen,
        MAX(event_time) AS last_seen,
        COUNT(*) AS events,
        ARRAY_TO_STRING(ARRAY_AGG(DISTINCT event_name ORDER BY event_name), ', ') AS names
    FROM behind
    GROUP BY k
)
SELECT
    'recon_burst' AS kind,
    'medium' AS severity,
    g.k AS access_key_id,
    g.session_name,
    g.project,
    g.instance,
    g.sub,
    CASE WHEN g.ips = 1 THEN g.one_ip END AS source_ip,
    g.first_seen,
    g.last_seen,
    g.events,
    CASE WHEN x.peak_names IS NOT NULL
        THEN CAST(x.peak_names AS STRING) || ' distinct recon calls' ELSE '' END
    || CASE WHEN x.peak_names IS NOT NULL AND x.peak_denied IS NOT NULL THEN ' and ' ELSE '' END
    || CASE WHEN x.peak_denied IS NOT NULL
        THEN CAST(x.peak_denied AS STRING) || ' access denials' ELSE '' END
    || ' within ' || CAST(p.w AS STRING) || 's: ' || g.names AS detail
FROM g
JOIN peaks x ON g.k = x.k
CROSS JOIN p
