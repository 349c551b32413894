-- service_account_key_created (medium): a key was created for a service account that assumed an AWS role in the input (a key outlives any instance: whoever holds it can mint that account's tokens from anywhere); with who did it, when and from where (gcp_changes, from the
-- GCP Admin Activity logs), and the account's next successful assumption after it.
WITH assumed AS (
    SELECT event_id, event_time, sub, access_key_id, session_name, issuing_ip, project, instance
    FROM assumptions
    WHERE error_code IS NULL AND sub IS NOT NULL
),
k AS (
    SELECT
        *,
        ROW_NUMBER() OVER (ORDER BY time, unique_id, detail) AS change_no
    FROM gcp_changes
    WHERE change = 'key_created' AND unique_id IN (SELECT sub FROM assumed)
),
after AS (
    SELECT
        k.change_no, a.event_time, a.access_key_id, a.session_name, a.issuing_ip,
        a.project, a.instance,
        COALESCE(STRFTIME(a.event_time, '%Y-%m-%dT%H:%M:%SZ'), '') || ' ' || COALESCE(a.event_id, '') AS ev,
        ROW_NUMBER() OVER (PARTITION BY k.change_no ORDER BY a.event_time, a.event_id) AS n
    FROM k
    JOIN assumed a ON a.sub = k.unique_id
    WHERE a.event_time > k.time
),
nxt AS (
    SELECT * FROM after WHERE n = 1
),
evidence AS (
    SELECT change_no, ARRAY_AGG(ev ORDER BY ev) AS evidence FROM nxt GROUP BY change_no
)
SELECT
    'service_account_key_created' AS kind,
    'medium' AS severity,
    x.access_key_id,
    x.session_name,
    x.project,
    x.instance,
    k.unique_id AS sub,
    k.caller_ip AS source_ip,
    k.time AS first_seen,
    COALESCE(x.event_time, k.time) AS last_seen,
    CASE WHEN x.event_time IS NULL THEN 1 ELSE 2 END AS events,
    e.evidence,
    'key ' || COALESCE(k.detail, '?') || ' created for ' || COALESCE(k.service_account, k.unique_id)
        || ' by ' || COALESCE(k.caller, '?') || ' from ' || COALESCE(k.caller_ip, '?') || ' at '
        || STRFTIME(k.time, '%Y-%m-%dT%H:%M:%SZ')
        || CASE
            WHEN x.event_time IS NULL THEN '; no assumption by its sub after it in the input'
            ELSE '; next assumption: ' || x.access_key_id || ' (' || x.session_name || ') from '
                || COALESCE(x.issuing_ip, '?') || ' at ' || STRFTIME(x.event_time, '%Y-%m-%dT%H:%M:%SZ')
        END AS detail
FROM k
LEFT JOIN nxt x ON x.change_no = k.change_no
LEFT JOIN evidence e ON e.change_no = k.change_no
ORDER BY k.time, k.unique_id
