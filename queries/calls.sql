-- calls: every follow-on API call joined to the AssumeRoleWithWebIdentity that issued its key.
-- Registered as the table `calls` before any other query runs; override it like any other query.
--
-- Primary join: the issued access key (selective, so it never fans out).
-- Fallback, for records that carry no access key: the issuing role ARN + the role session name +
-- sessionContext.attributes.creationDate, which equals the assumption's eventTime.
-- A call is from a foreign IP when its source IP differs from the IP that obtained the key;
-- calls made by AWS services on the session's behalf (invokedBy, service-name sources,
-- "AWS Internal") never are.
WITH issued AS (
    SELECT
        event_id AS assumption_event_id,
        access_key_id AS issued_key,
        role_arn,
        session_name AS issued_session_name,
        project,
        instance,
        instance_source,
        sub,
        aud,
        provider,
        issuing_ip,
        event_time AS issued_at,
        expires_at
    FROM assumptions
    WHERE error_code IS NULL AND access_key_id IS NOT NULL
),
by_key AS (
    SELECT c.*, i.*, 'access_key' AS matched_by
    FROM role_calls c
    JOIN issued i ON c.access_key_id = i.issued_key
),
by_session AS (
    SELECT c.*, i.*, 'session' AS matched_by
    FROM role_calls c
    JOIN issued i
        ON c.session_issuer_arn = i.role_arn
        AND c.session_name = i.issued_session_name
        AND c.session_created_at = i.issued_at
    WHERE c.access_key_id IS NULL
),
matched AS (
    SELECT * FROM by_key
    UNION ALL
    SELECT * FROM by_session
)
SELECT
    *,
    COALESCE(NOT is_service AND source_ip <> issuing_ip, FALSE) AS foreign_ip
FROM matched
