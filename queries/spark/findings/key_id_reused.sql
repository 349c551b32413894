-- Spark SQL sibling of queries/findings/key_id_reused.sql, written by queries/spark/translate.py: do not edit.
-- key_id_reused (info): one temporary access key ID issued twice. AWS reuses temporary (ASIA…)
-- key IDs, even to two sessions at once, and CloudTrail never logs the session token that tells
-- them apart: not an attack, but the place where attribution rests on more than the key ID.
-- janus-audit tells the issuances apart by the session's ARN and issue time (every call carries
-- both: userIdentity.arn and sessionContext.attributes.creationDate). One finding per pair, on
-- the later issuance, when either was issued or used in the window.
WITH k AS (
    SELECT
        l.key_ref, l.access_key_id, l.assumed_role_arn, l.issued_at, l.expires_at, l.issuing_ip,
        l.in_window OR l.used_in_window AS relevant,
        a.session_name, a.project, a.instance, a.sub
    FROM key_lineage l
    JOIN assumptions a ON l.root_event_id = a.event_id
)
SELECT
    'key_id_reused' AS kind,
    'info' AS severity,
    b.access_key_id,
    b.session_name,
    b.project,
    b.instance,
    b.sub,
    b.issuing_ip AS source_ip,
    a.issued_at AS first_seen,
    b.issued_at AS last_seen,
    2 AS events,
    'key ID issued to ' || COALESCE(a.assumed_role_arn, '(no session ARN)') || ' at '
        || DATE_FORMAT(a.issued_at, "yyyy-MM-dd'T'HH:mm:ss'Z'") || ' and to '
        || COALESCE(b.assumed_role_arn, '(no session ARN)') || ' at '
        || DATE_FORMAT(b.issued_at, "yyyy-MM-dd'T'HH:mm:ss'Z'")
        || CASE WHEN b.issued_at < a.expires_at THEN ', while the first was still valid' ELSE '' END
        || ' (AWS reuses temporary key IDs; calls are told apart by session ARN and creation time)'
        AS detail
FROM k a
JOIN k b ON a.access_key_id = b.access_key_id
WHERE a.key_ref < b.key_ref AND (a.relevant OR b.relevant)
