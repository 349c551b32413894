-- trust_policy_widened (high): an UpdateAssumeRolePolicy in the input made a role admit Google
-- identities its previous policy did not (a second statement, a removed sub pin, a wildcard),
-- with who made the change and from where, and the first assumption after it by a sub the
-- previous policy refused. trust_versions is built by janus-audit from the input's
-- policy_changes and --policies (see `janus-audit trust`).
SELECT
    'trust_policy_widened' AS kind,
    'high' AS severity,
    CAST(NULL AS STRING) AS access_key_id,
    first_new_session AS session_name,
    CAST(NULL AS STRING) AS project,
    CAST(NULL AS STRING) AS instance,
    first_new_sub AS sub,
    caller_ip AS source_ip,
    version_from AS first_seen,
    COALESCE(first_new_at, version_from) AS last_seen,
    CASE WHEN first_new_at IS NULL THEN 1 ELSE 2 END AS events,
    -- The change's own event (one; a findings query may return it as text).
    CASE WHEN event_id IS NOT NULL THEN COALESCE(STRFTIME(version_from, '%Y-%m-%dT%H:%M:%SZ'), '') || ' ' || event_id END AS evidence,
    'role ' || role_arn || ' widened from ' || previous_who || ' to ' || who || ' by '
        || COALESCE(caller_arn, '?') || ' from ' || COALESCE(caller_ip, '?')
        || ' (' || COALESCE(event_name, '?') || ' ' || COALESCE(event_id, '?') || ')'
        || CASE
            WHEN first_new_sub IS NULL THEN '; no newly admitted sub assumed it in the input'
            ELSE '; first assumption by a newly admitted sub: ' || first_new_sub || ' from '
                || COALESCE(first_new_ip, '?')
        END AS detail
FROM trust_versions
WHERE widened
ORDER BY version_from, role_arn
