-- trust_any_google_identity (high when the role was assumed successfully in the window while it
-- admitted any Google identity, medium otherwise): a role whose trust policy admits any Google
-- identity, so the session names of its keys are only claims. One finding per role; events
-- counts those assumptions. trust_versions: see `janus-audit trust`.
WITH loose AS (
    SELECT role_arn, version_from, version_to, source
    FROM trust_versions
    WHERE who = 'any_google_identity'
),
used AS (
    SELECT
        l.role_arn,
        COUNT(*) AS n,
        MIN(a.event_time) AS first_used,
        MAX(a.event_time) AS last_used,
        ARRAY_AGG(a.ev ORDER BY a.ev) AS evidence
    FROM loose l
    JOIN (
        -- Named, not `*`: over a dataset, only the columns a query names are decoded.
        SELECT role_arn, error_code, in_window, event_time,
            COALESCE(STRFTIME(event_time, '%Y-%m-%dT%H:%M:%SZ'), '') || ' ' || COALESCE(event_id, '') AS ev
        FROM assumptions
    ) a
        ON a.role_arn = l.role_arn
    WHERE a.error_code IS NULL AND a.in_window
        AND (l.version_from IS NULL OR a.event_time >= l.version_from)
        AND (l.version_to IS NULL OR a.event_time < l.version_to)
    GROUP BY l.role_arn
),
roles AS (
    SELECT role_arn, MIN(version_from) AS since, MIN(source) AS source
    FROM loose
    GROUP BY role_arn
)
SELECT
    'trust_any_google_identity' AS kind,
    CASE WHEN u.n > 0 THEN 'high' ELSE 'medium' END AS severity,
    CAST(NULL AS STRING) AS access_key_id,
    CAST(NULL AS STRING) AS session_name,
    CAST(NULL AS STRING) AS project,
    CAST(NULL AS STRING) AS instance,
    CAST(NULL AS STRING) AS sub,
    CAST(NULL AS STRING) AS source_ip,
    COALESCE(u.first_used, r.since) AS first_seen,
    COALESCE(u.last_used, r.since) AS last_seen,
    COALESCE(u.n, 0) AS events,
    u.evidence,
    'role ' || r.role_arn || ' admits any Google identity (' || r.source || '): its session names are only claims'
        AS detail
FROM roles r
LEFT JOIN used u ON u.role_arn = r.role_arn
ORDER BY r.role_arn
