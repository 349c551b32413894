-- recon_burst (medium): one key makes at least `recon_min_distinct` distinct reconnaissance calls
-- (List*, Describe*, Get*Account*, GetCallerIdentity), or at least `recon_min_denied` access-denied
-- errors, within `recon_window_s` seconds. One finding per key, over every event in any window that
-- crossed a threshold. Calls AWS services make on the session's behalf don't count (the marks
-- recon and denied are flagged_calls').
--
-- Windows slide exactly, anchored at every second with a qualifying call and covering
-- [t, t + W). For distinct names, time is cut into buckets of W seconds (a window starting in
-- bucket b ends in b or b + 1) and each (key, name, bucket) is first reduced to its earliest
-- and latest call: a name occurs in [t, t + W) exactly when its latest call in t's bucket is at
-- or after t, or its earliest call in the next bucket is before t + W. That costs the seconds
-- with calls times the names per bucket, so a busy key repeating the same few calls stays
-- cheap. Denials are counted without pairing calls at all (below).
WITH p AS (
    SELECT
        recon_min_distinct AS n_distinct,
        recon_min_denied AS n_denied,
        recon_window_s AS w
    FROM findings_params
),
c AS (
    SELECT
        -- The issued key (its row), not the key ID: AWS reuses temporary key IDs.
        f.key_ref AS k,
        f.key_id,
        f.event_id,
        f.event_time,
        f.event_name,
        f.error_code,
        f.issued_session_name,
        f.project,
        f.instance,
        f.sub,
        f.source_ip,
        CAST(EXTRACT(EPOCH FROM f.event_time) AS BIGINT) AS ts,
        CAST(FLOOR(EXTRACT(EPOCH FROM f.event_time) / p.w) AS BIGINT) AS bucket,
        -- flagged_calls' marks: never a call AWS services make on the session's behalf.
        f.recon AS is_recon,
        f.denied AS is_denied,
        p.w,
        p.n_distinct,
        p.n_denied
    FROM flagged_calls f CROSS JOIN p
    WHERE (f.recon OR f.denied) AND f.event_time IS NOT NULL
),
recon AS (SELECT k, event_name, ts, bucket, w, n_distinct FROM c WHERE is_recon),
denied AS (SELECT k, ts, w, n_denied FROM c WHERE is_denied),
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
-- Denials are counted, not distinct, without pairing calls: the count in [t, t + W) is the
-- number of denials before t + W less those before t. Denials are numbered in time order per
-- key, so for each second a denial falls in, `n_before` and `n_upto` count the denials
-- before it and up to its end. The denials before t + W are found by ordering the seconds and
-- the ends t + W together: an end's place in that order, less its place among the ends, is how
-- many seconds with denials come before it. Everything is a sort or an equi-join, so the cost
-- stays linear however dense a key's denials are (an attacker can make thousands a minute).
-- The window length and threshold ride along in each row instead of a CROSS JOIN p at the
-- comparison: polars turns a cross join under a predicate on both sides into a range join,
-- which its streaming engine cannot run.
denied_numbered AS (
    SELECT k, ts, w, n_denied, ROW_NUMBER() OVER (PARTITION BY k ORDER BY ts) AS n FROM denied
),
denied_seconds AS (
    SELECT k, ts, MIN(n) - 1 AS n_before, MAX(n) AS n_upto, MIN(w) AS w, MIN(n_denied) AS n_denied
    FROM denied_numbered
    GROUP BY k, ts
),
denied_marks AS (
    SELECT k, ts + w AS mark_ts, 0 AS is_second, ts, n_before, n_upto, w, n_denied
    FROM denied_seconds
    UNION ALL
    SELECT k, ts AS mark_ts, 1 AS is_second, ts, n_before, n_upto, w, n_denied FROM denied_seconds
),
denied_ordered AS (
    SELECT
        *,
        ROW_NUMBER() OVER (PARTITION BY k ORDER BY mark_ts, is_second) AS place,
        ROW_NUMBER() OVER (PARTITION BY k, is_second ORDER BY mark_ts) AS place_in_kind
    FROM denied_marks
),
denied_ends AS (
    SELECT k, ts, n_before, w, n_denied, place - place_in_kind AS seconds_before
    FROM denied_ordered
    WHERE is_second = 0
),
denied_numbered_seconds AS (
    SELECT k, place_in_kind AS second_no, n_upto FROM denied_ordered WHERE is_second = 1
),
denied_windows AS (
    SELECT e.k, e.ts, e.w, s.n_upto - e.n_before AS hits
    FROM denied_ends e
    JOIN denied_numbered_seconds s ON e.k = s.k AND e.seconds_before = s.second_no
    WHERE s.n_upto - e.n_before >= e.n_denied
),
-- The events behind a finding: every recon (resp. denied) call inside a window that crossed.
-- A call at second t is inside one exactly when the latest crossing window that starts at or
-- before t starts after t - W (all windows are W long); that window is found by the same
-- ordering as above, so a busy key costs a sort, not a comparison of every pair.
windows AS (
    SELECT k, ts, w, 'recon' AS trigger FROM recon_windows
    UNION ALL
    SELECT k, ts, w, 'denied' AS trigger FROM denied_windows
),
call_seconds AS (
    SELECT DISTINCT k, ts, w, 'recon' AS trigger FROM recon
    UNION ALL
    SELECT DISTINCT k, ts, w, 'denied' AS trigger FROM denied
),
cover_marks AS (
    SELECT k, trigger, ts, w, 0 AS is_call FROM windows
    UNION ALL
    SELECT k, trigger, ts, w, 1 AS is_call FROM call_seconds
),
cover_ordered AS (
    SELECT
        *,
        ROW_NUMBER() OVER (PARTITION BY k, trigger ORDER BY ts, is_call) AS place,
        ROW_NUMBER() OVER (PARTITION BY k, trigger, is_call ORDER BY ts) AS place_in_kind
    FROM cover_marks
),
cover_starts AS (
    SELECT k, trigger, ts AS start_ts, w, place_in_kind AS window_no
    FROM cover_ordered
    WHERE is_call = 0
),
cover_calls AS (
    SELECT k, trigger, ts, place - place_in_kind AS windows_before
    FROM cover_ordered
    WHERE is_call = 1
),
covered AS (
    SELECT x.k, x.trigger, x.ts
    FROM cover_calls x
    JOIN cover_starts s
        ON x.k = s.k AND x.trigger = s.trigger AND x.windows_before = s.window_no
    WHERE x.ts < s.start_ts + s.w
),
behind AS (
    SELECT DISTINCT e.k, e.key_id, e.event_id, e.event_time, e.event_name, e.error_code, e.is_recon,
        e.is_denied, e.issued_session_name, e.project, e.instance, e.sub, e.source_ip,
        COALESCE(STRFTIME(e.event_time, '%Y-%m-%dT%H:%M:%SZ'), '') || ' ' || COALESCE(e.event_id, '') AS ev
    FROM c e
    JOIN covered v ON e.k = v.k AND e.ts = v.ts
    WHERE (v.trigger = 'recon' AND e.is_recon) OR (v.trigger = 'denied' AND e.is_denied)
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
        FIRST(key_id) AS key_id,
        FIRST(issued_session_name) AS session_name,
        FIRST(project) AS project,
        FIRST(instance) AS instance,
        FIRST(sub) AS sub,
        COUNT(DISTINCT source_ip) AS ips,
        MIN(source_ip) AS one_ip,
        MIN(event_time) AS first_seen,
        MAX(event_time) AS last_seen,
        COUNT(*) AS events,
        ARRAY_TO_STRING(ARRAY_AGG(DISTINCT event_name ORDER BY event_name), ', ') AS names,
        ARRAY_AGG(ev ORDER BY ev) AS evidence
    FROM behind
    GROUP BY k
)
SELECT
    'recon_burst' AS kind,
    'medium' AS severity,
    g.key_id AS access_key_id,
    g.session_name,
    g.project,
    g.instance,
    g.sub,
    CASE WHEN g.ips = 1 THEN g.one_ip END AS source_ip,
    g.first_seen,
    g.last_seen,
    g.events,
    g.evidence,
    CASE WHEN x.peak_names IS NOT NULL
        THEN CAST(x.peak_names AS STRING) || ' distinct recon calls' ELSE '' END
    || CASE WHEN x.peak_names IS NOT NULL AND x.peak_denied IS NOT NULL THEN ' and ' ELSE '' END
    || CASE WHEN x.peak_denied IS NOT NULL
        THEN CAST(x.peak_denied AS STRING) || ' access denials' ELSE '' END
    || ' within ' || CAST(p.w AS STRING) || 's: ' || g.names AS detail
FROM g
JOIN peaks x ON g.k = x.k
CROSS JOIN p
