-- trust_history: every change of a role's trust policy the trail holds, for `janus-audit trust`.
-- CreateRole carries the document in requestParameters.assumeRolePolicyDocument and
-- UpdateAssumeRolePolicy in requestParameters.policyDocument (JSON text inside the request's
-- JSON; janus-audit reads it from request_parameters). An event with an error changed nothing,
-- though it carries the document. UpdateAssumeRolePolicy names only the role: its account is the
-- event's, its path comes from a CreateRole or --policies.
SELECT
    event_id,
    event_time,
    event_name,
    COALESCE(recipient_account_id, account_id) AS account_id,
    identity_arn AS caller_arn,
    source_ip,
    request_parameters
FROM events
WHERE event_source = 'iam.amazonaws.com'
    AND event_name IN ('CreateRole', 'UpdateAssumeRolePolicy')
    AND error_code IS NULL
ORDER BY event_time, event_id
