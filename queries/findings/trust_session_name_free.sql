-- trust_session_name_free (info): a role that admits Google identities without constraining the
-- session name (no sts:RoleSessionName condition), so the name is whatever the token's holder
-- chooses. Once per role, from its policy as it stands (the input's last change of it, else
-- --policies). trust_versions: see `janus-audit trust`.
WITH latest AS (
    SELECT *
    FROM (
        SELECT
            *,
            ROW_NUMBER() OVER (
                PARTITION BY role_arn ORDER BY version_from DESC NULLS LAST
            ) AS n
        FROM trust_versions
    ) v
    WHERE n = 1
)
SELECT
    'trust_session_name_free' AS kind,
    'info' AS severity,
    CAST(NULL AS STRING) AS access_key_id,
    CAST(NULL AS STRING) AS session_name,
    CAST(NULL AS STRING) AS project,
    CAST(NULL AS STRING) AS instance,
    CAST(NULL AS STRING) AS sub,
    CAST(NULL AS STRING) AS source_ip,
    version_from AS first_seen,
    version_from AS last_seen,
    0 AS events,
    -- The policy's change when CloudTrail showed it (one; a findings query may return it as text).
    CASE WHEN event_id IS NOT NULL THEN COALESCE(STRFTIME(version_from, '%Y-%m-%dT%H:%M:%SZ'), '') || ' ' || event_id END AS evidence,
    'role ' || role_arn || ' (' || who || ') does not constrain the session name: the holder of an admitted token chooses it'
        AS detail
FROM latest
WHERE session_name = 'free' AND who <> 'none'
ORDER BY role_arn
