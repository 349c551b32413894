-- Spark SQL sibling of queries/findings/key_used_from_foreign_ip.sql, written by queries/spark/translate.py: do not edit.
-- key_used_from_foreign_ip (high): a key issued to a session is used from a source IP other than
-- the one that obtained it. Calls made by AWS services on the session's behalf (invokedBy,
-- service-name sources, "AWS Internal") never count; nor do sources in --trusted-cidrs.
-- One finding per key and foreign IP.
WITH g AS (
    SELECT
        issued_key,
        issued_session_name,
        source_ip,
        FIRST(project) AS project,
        FIRST(instance) AS instance,
        FIRST(sub) AS sub,
        FIRST(issuing_ip) AS issuing_ip,
        MIN(event_time) AS first_seen,
        MAX(event_time) AS last_seen,
        COUNT(*) AS events,
        ARRAY_JOIN(ARRAY_SORT(COLLECT_SET(event_name)), ', ') AS names
    FROM calls
    WHERE foreign_ip AND NOT trusted_source
    GROUP BY issued_key, issued_session_name, source_ip
)
SELECT
    'key_used_from_foreign_ip' AS kind,
    'high' AS severity,
    issued_key AS access_key_id,
    issued_session_name AS session_name,
    project,
    instance,
    sub,
    source_ip,
    first_seen,
    last_seen,
    events,
    'key obtained from ' || issuing_ip || ', used from ' || source_ip || ': ' || names AS detail
FROM g
