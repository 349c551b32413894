-- orphan_federated_key (info): an ASIA key whose events carry Google webIdFederationData but
-- whose issuing AssumeRoleWithWebIdentity is not in the input. A coverage gap, not an attack:
-- widen the input (earlier days, other regions or accounts) to attribute it. A call made with a
-- key ID the input did issue, but to another session or at another time (AWS reuses temporary
-- key IDs), is matched to no key and counts here too. The calls are orphan_calls'.
WITH g AS (
    SELECT
        access_key_id,
        MIN(session_name) AS session_name,
        MIN(web_id_sub) AS sub,
        -- One IP, or none when the key was used from several.
        CASE WHEN COUNT(DISTINCT source_ip) = 1 THEN MIN(source_ip) END AS source_ip,
        MIN(event_time) AS first_seen,
        MAX(event_time) AS last_seen,
        COUNT(*) AS events,
        -- The events behind the finding, each as its time and eventID, for --format ocsf.
        ARRAY_AGG(ev ORDER BY ev) AS evidence
    -- Only the columns read: a `*` here would make a report decode every column of the calls.
    FROM (
        SELECT access_key_id, session_name, web_id_sub, source_ip, event_time,
            COALESCE(STRFTIME(event_time, '%Y-%m-%dT%H:%M:%SZ'), '') || ' ' || COALESCE(event_id, '') AS ev
        FROM orphan_calls
    ) f
    GROUP BY access_key_id
)
SELECT
    'orphan_federated_key' AS kind,
    'info' AS severity,
    access_key_id,
    session_name,
    CAST(NULL AS STRING) AS project,
    CAST(NULL AS STRING) AS instance,
    sub,
    source_ip,
    first_seen,
    last_seen,
    events,
    evidence,
    'coverage gap: the AssumeRoleWithWebIdentity that issued this key is not in the input' AS detail
FROM g
