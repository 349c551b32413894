-- session_names_unknown_instance (high): a successful assumption in the window whose session
-- name claims an instance that the GCP Admin Activity logs, covering that project at that time,
-- show did not exist then (no_such_instance), or that existed but ran as a service account other
-- than the one whose sub assumed (other_service_account). gcp_verdicts is built by janus-audit
-- from --gcp-logs (each successful assumption's gcp_instance and what it rests on); without GCP
-- logs it judges nothing and this finds nothing.
SELECT
    'session_names_unknown_instance' AS kind,
    'high' AS severity,
    access_key_id,
    session_name,
    project,
    instance,
    sub,
    issuing_ip AS source_ip,
    event_time AS first_seen,
    event_time AS last_seen,
    1 AS events,
    -- The assumption (one; a findings query may return it as text).
    CASE WHEN event_id IS NOT NULL THEN COALESCE(STRFTIME(event_time, '%Y-%m-%dT%H:%M:%SZ'), '') || ' ' || event_id END AS evidence,
    gcp_instance || ': ' || reason || '; role ' || COALESCE(role_arn, '?') AS detail
FROM gcp_verdicts
WHERE in_window AND gcp_instance IN ('no_such_instance', 'other_service_account')
ORDER BY event_time, access_key_id
