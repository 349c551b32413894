-- trust_history: every change of a role's trust policy the trail holds, for `janus-audit trust`.
-- CreateRole carries the document in requestParameters.assumeRolePolicyDocument and
-- UpdateAssumeRolePolicy in requestParameters.policyDocument (JSON text inside the request's
-- JSON; janus-audit reads it from request_parameters). An event with an error changed nothing,
-- though it carries the document. UpdateAssumeRolePolicy names only the role: its account is the
-- event's, its path comes from a CreateRole or --policies.
SELECT event_id, event_time, event_name, account_id, caller_arn, source_ip, request_parameters
FROM policy_changes
WHERE error_code IS NULL
ORDER BY event_time, event_id
