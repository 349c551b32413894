-- trust_assumptions: every Google AssumeRoleWithWebIdentity (refused ones too), for
-- `janus-audit trust` to judge against the trust policy in force when it happened. `aud` is
-- CloudTrail's audience (a service account's unique ID, or an OAuth client's), which
-- `trust --tighten` pins.
SELECT role_arn, sub, aud, event_time, error_code
FROM assumptions
WHERE role_arn IS NOT NULL
ORDER BY role_arn, sub, event_time
