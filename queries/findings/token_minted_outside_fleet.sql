-- token_minted_outside_fleet (high): a granted GenerateIdToken or SignJwt (IAM Credentials, Data
-- Access log) for a service account that assumed an AWS role, by a principal other than that
-- service account itself (a user, another service account, a workload identity; the original
-- caller of a delegation chain), followed within the token's lifetime (one hour) by a successful
-- assumption in the window with that account's sub. One finding per mint: source_ip is the
-- assumption's (the one from the minter's own IP first, when several follow); detail names the
-- minter, its IP and every assumption in that hour.
WITH m AS (
    SELECT
        time AS minted_at, method, target_email, target_unique_id, minter, caller_type,
        caller_ip AS minter_ip,
        ROW_NUMBER() OVER (ORDER BY time, target_unique_id, minter) AS mint_no
    FROM gcp_mints
    WHERE granted AND method IN ('GenerateIdToken', 'SignJwt') AND minter IS NOT NULL
        AND target_unique_id IS NOT NULL
        AND LOWER(minter) <> LOWER(COALESCE(target_email, ''))
),
hits AS (
    SELECT
        m.*, a.event_id, a.event_time, a.issuing_ip, a.access_key_id, a.session_name,
        a.project, a.instance, a.sub,
        CASE WHEN a.issuing_ip = m.minter_ip THEN 0 ELSE 1 END AS ip_rank,
        STRFTIME(a.event_time, '%Y-%m-%dT%H:%M:%SZ') || ' ' || COALESCE(a.access_key_id, '?')
            || ' from ' || COALESCE(a.issuing_ip, '?') AS seen,
        COALESCE(STRFTIME(a.event_time, '%Y-%m-%dT%H:%M:%SZ'), '') || ' ' || COALESCE(a.event_id, '') AS ev
    FROM m
    JOIN assumptions a ON a.sub = m.target_unique_id
    WHERE a.in_window AND a.error_code IS NULL
        AND a.event_time >= m.minted_at
        AND a.event_time <= m.minted_at + INTERVAL '1 hour'
),
ranked AS (
    SELECT
        *,
        ROW_NUMBER() OVER (PARTITION BY mint_no ORDER BY ip_rank, event_time, event_id) AS pick
    FROM hits
),
every AS (
    SELECT
        mint_no,
        COUNT(*) AS n,
        MAX(event_time) AS last_at,
        ARRAY_TO_STRING(ARRAY_AGG(DISTINCT seen ORDER BY seen), ', ') AS assumptions,
        ARRAY_AGG(ev ORDER BY ev) AS evidence
    FROM hits
    GROUP BY mint_no
)
SELECT
    'token_minted_outside_fleet' AS kind,
    'high' AS severity,
    r.access_key_id,
    r.session_name,
    r.project,
    r.instance,
    r.sub,
    r.issuing_ip AS source_ip,
    r.minted_at AS first_seen,
    e.last_at AS last_seen,
    e.n + 1 AS events,
    e.evidence,
    r.method || ' for ' || COALESCE(r.target_email, r.target_unique_id) || ' by ' || r.minter
        || ' (' || r.caller_type || ') from ' || COALESCE(r.minter_ip, '?') || ' at '
        || STRFTIME(r.minted_at, '%Y-%m-%dT%H:%M:%SZ') || '; assumed within the hour: '
        || e.assumptions AS detail
FROM ranked r
JOIN every e ON e.mint_no = r.mint_no
WHERE r.pick = 1
ORDER BY r.minted_at, r.target_unique_id
