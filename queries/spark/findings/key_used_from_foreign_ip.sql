-- Spark SQL sibling of queries/findings/key_used_from_foreign_ip.sql, written by queries/spark/translate.py: do not edit.
-- key_used_from_foreign_ip (high): a key issued to a session is used from a source IP other than
-- the one that obtained it. Calls made by AWS services on the session's behalf (invokedBy,
-- service-name sources, "AWS Internal") never count; nor do sources in --trusted-cidrs (the
-- rule is calls.sql's foreign_ip).
-- One finding per key and foreign IP; a key chained from the session's is judged against the IP
-- that obtained the root key (the instance's).
WITH g AS (
    SELECT
        -- Per issued key (its row), not per key ID: AWS reuses temporary key IDs.
        key_ref,
        key_id,
        issued_session_name,
        source_ip,
        FIRST(depth) AS depth,
        FIRST(key_role_arn) AS key_role_arn,
        FIRST(project) AS project,
        FIRST(instance) AS instance,
        FIRST(sub) AS sub,
        FIRST(issuing_ip) AS issuing_ip,
        MIN(event_time) AS first_seen,
        MAX(event_time) AS last_seen,
        COUNT(*) AS events,
        ARRAY_JOIN(ARRAY_SORT(COLLECT_SET(event_name)), ', ') AS names,
        -- The events behind the finding, each as its time and eventID, for --format ocsf.
        ARRAY_SORT(COLLECT_LIST(ev)) AS evidence
    -- Only the columns read: a `*` here would make a report decode every column of the calls.
    FROM (
        SELECT key_ref, key_id, issued_session_name, source_ip, depth, key_role_arn, project, instance,
            sub, issuing_ip, event_time, event_name,
            COALESCE(DATE_FORMAT(event_time, "yyyy-MM-dd'T'HH:mm:ss'Z'"), '') || ' ' || COALESCE(event_id, '') AS ev
        FROM flagged_calls WHERE foreign_ip
    ) f
    GROUP BY key_ref, key_id, issued_session_name, source_ip
)
SELECT
    'key_used_from_foreign_ip' AS kind,
    'high' AS severity,
    key_id AS access_key_id,
    issued_session_name AS session_name,
    project,
    instance,
    sub,
    source_ip,
    first_seen,
    last_seen,
    events,
    evidence,
    CASE
        WHEN depth > 0 THEN 'session obtained from ' || issuing_ip || ', key chained via ' || key_role_arn
        ELSE 'key obtained from ' || issuing_ip
    END || ', used from ' || source_ip || ': ' || names AS detail
FROM g
