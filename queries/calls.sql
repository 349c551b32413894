-- calls: every follow-on API call joined to the AssumeRoleWithWebIdentity at the root of its key.
-- Registered as the table `calls` before any other query runs; override it like any other query.
--
-- A key is the one AssumeRoleWithWebIdentity issued (depth 0) or one chained from it by
-- AssumeRole, at any depth (key_lineage, computed by janus-audit). A call belongs to its key's
-- root: that session, instance, project and sub. `depth`, `key_role_arn` and the other key_*
-- columns describe the key the call was made with.
--
-- Primary join: the access key (selective, so it never fans out).
-- Fallback, for records that carry no access key: the key's role ARN + role session name +
-- sessionContext.attributes.creationDate, which equals the issuing event's eventTime.
-- A call is from a foreign IP when its source IP differs from the IP that obtained the root key
-- (the instance's); calls made by AWS services on the session's behalf (invokedBy, service-name
-- sources, "AWS Internal") never are.
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
keys AS (
    SELECT
        i.*,
        l.access_key_id AS key_id,
        l.depth,
        l.parent_key,
        l.role_arn AS key_role_arn,
        l.session_name AS key_session_name,
        l.event_id AS key_event_id,
        l.issued_at AS key_issued_at,
        l.expires_at AS key_expires_at
    FROM key_lineage l
    JOIN issued i ON l.root_event_id = i.assumption_event_id
),
by_key AS (
    SELECT c.*, k.*, 'access_key' AS matched_by
    FROM role_calls c
    JOIN keys k ON c.access_key_id = k.key_id
),
by_session AS (
    SELECT c.*, k.*, 'session' AS matched_by
    FROM role_calls c
    JOIN keys k
        ON c.session_issuer_arn = k.key_role_arn
        AND c.session_name = k.key_session_name
        AND c.session_created_at = k.key_issued_at
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
