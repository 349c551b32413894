-- Spark SQL sibling of queries/findings/key_id_reused.sql, written by queries/spark/translate.py: do not edit.
-- key_id_reused (info): one temporary access key ID issued twice. AWS reuses temporary (ASIA…)
-- key IDs, even to two sessions at once, and CloudTrail never logs the session token that tells
-- them apart: not an attack, but the place where attribution rests on more than the key ID.
-- janus-audit tells the issuances apart by the session's ARN and issue time (every call carries
-- both: userIdentity.arn and sessionContext.attributes.creationDate). One finding per pair, on
-- the later issuance, when either was issued or used in the window.
WITH reissued AS (
    -- Nearly every key ID is issued once: only the others are carried into the self-join.
    SELECT access_key_id AS id FROM key_lineage GROUP BY access_key_id HAVING COUNT(*) > 1
),
k AS (
    SELECT
        l.key_ref, l.access_key_id, l.assumed_role_arn, l.issued_at, l.expires_at, l.issuing_ip,
        l.in_window OR l.used_in_window AS relevant,
        a.session_name, a.project, a.instance, a.sub,
        COALESCE(DATE_FORMAT(l.issued_at, "yyyy-MM-dd'T'HH:mm:ss'Z'"), '') || ' ' || COALESCE(l.event_id, '') AS ev
    FROM key_lineage l
    JOIN assumptions a ON l.root_event_id = a.event_id
    WHERE l.access_key_id IN (SELECT id FROM reissued)
),
pairs AS (
    SELECT a.key_ref AS a_ref, b.key_ref AS b_ref, a.ev AS a_ev, b.ev AS b_ev
    FROM k a
    JOIN k b ON a.access_key_id = b.access_key_id
    WHERE a.key_ref < b.key_ref AND (a.relevant OR b.relevant)
),
issuances AS (
    SELECT a_ref, b_ref, a_ev AS ev FROM pairs
    UNION ALL
    SELECT a_ref, b_ref, b_ev AS ev FROM pairs
),
evidence AS (
    SELECT a_ref, b_ref, ARRAY_SORT(COLLECT_LIST(ev)) AS evidence
    FROM issuances
    GROUP BY a_ref, b_ref
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
    e.evidence,
    'key ID issued to ' || COALESCE(a.assumed_role_arn, '(no session ARN)') || ' at '
        || DATE_FORMAT(a.issued_at, "yyyy-MM-dd'T'HH:mm:ss'Z'") || ' and to '
        || COALESCE(b.assumed_role_arn, '(no session ARN)') || ' at '
        || DATE_FORMAT(b.issued_at, "yyyy-MM-dd'T'HH:mm:ss'Z'")
        || CASE WHEN b.issued_at < a.expires_at THEN ', while the first was still valid' ELSE '' END
        || ' (AWS reuses temporary key IDs; calls are told apart by session ARN and creation time)'
        AS detail
FROM k a
JOIN k b ON a.access_key_id = b.access_key_id
JOIN evidence e ON e.a_ref = a.key_ref AND e.b_ref = b.key_ref
WHERE a.key_ref < b.key_ref AND (a.relevant OR b.relevant)
