-- use_after_expiry (high): an event made with a key after that key's expiration (a chained key's
-- own expiration, not its root's: flagged_calls' after_expiry).
WITH g AS (
    SELECT
        -- Per issued key (its row), not per key ID: AWS reuses temporary key IDs.
        key_ref,
        key_id,
        issued_session_name,
        FIRST(project) AS project,
        FIRST(instance) AS instance,
        FIRST(sub) AS sub,
        -- One IP, or none when the expired key was used from several.
        CASE WHEN COUNT(DISTINCT source_ip) = 1 THEN MIN(source_ip) END AS source_ip,
        FIRST(key_expires_at) AS expires_at,
        MIN(event_time) AS first_seen,
        MAX(event_time) AS last_seen,
        COUNT(*) AS events,
        ARRAY_TO_STRING(ARRAY_AGG(DISTINCT event_name ORDER BY event_name), ', ') AS names,
        -- The events behind the finding, each as its time and eventID, for --format ocsf.
        ARRAY_AGG(ev ORDER BY ev) AS evidence
    -- Only the columns read: a `*` here would make a report decode every column of the calls.
    FROM (
        SELECT key_ref, key_id, issued_session_name, project, instance, sub, source_ip, key_expires_at,
            event_time, event_name,
            COALESCE(STRFTIME(event_time, '%Y-%m-%dT%H:%M:%SZ'), '') || ' ' || COALESCE(event_id, '') AS ev
        FROM flagged_calls WHERE after_expiry
    ) f
    GROUP BY key_ref, key_id, issued_session_name
)
SELECT
    'use_after_expiry' AS kind,
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
    'key expired at ' || STRFTIME(expires_at, '%Y-%m-%dT%H:%M:%SZ') || ', still used: ' || names AS detail
FROM g
