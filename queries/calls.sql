-- calls: every follow-on API call joined to the AssumeRoleWithWebIdentity at the root of its key.
-- Registered as the table `calls` before any other query runs; override it like any other query.
--
-- A key is the one AssumeRoleWithWebIdentity issued (depth 0) or one chained from it by
-- AssumeRole, at any depth (key_lineage, computed by janus-audit). A call belongs to its key's
-- root: that session, instance, project and sub. `depth`, `key_role_arn` and the other key_*
-- columns describe the key the call was made with.
--
-- Each call is joined to its key by key_ref, the key's row in key_lineage, which janus-audit
-- matches once for every call. A key is an issuance, not a key ID (AWS reuses temporary key
-- IDs): a call is matched by its access key ID + userIdentity.arn +
-- sessionContext.attributes.creationDate to the key issued with that ID to that session ARN at
-- that time; a record that lacks the ARN or the creation time, on what it has, to the first
-- such row of key_lineage. A record that carries no key is matched by the key's role ARN + role
-- session name + creationDate (the issuing event's eventTime); where that session names several
-- keys (issued in the same second), the first row of key_lineage. A call matched by neither is
-- no key's.
--
-- A call is from a foreign IP when its source IP differs from the IP that obtained the root key
-- (the instance's); calls made by AWS services on the session's behalf (invokedBy, service-name
-- sources, "AWS Internal") never are, nor calls from a --trusted-cidrs range (trusted_source),
-- so that every report and finding gives one answer.
WITH issued AS (
    SELECT
        a.event_id AS assumption_event_id,
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
        expires_at,
        -- The session's number, in name order: equal names, equal numbers. A report that groups
        -- calls by session groups on this integer instead of hashing every call's name.
        DENSE_RANK() OVER (ORDER BY session_name NULLS LAST) AS issued_session_no
    -- Qualified: an event_id that can only be the assumptions' is not decoded for role_calls.
    FROM assumptions a
    WHERE error_code IS NULL AND access_key_id IS NOT NULL
),
keys AS (
    SELECT
        i.*,
        l.key_ref AS key_row,
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
matched AS (
    SELECT
        c.*,
        -- Every column of keys but key_row, which is c.key_ref.
        k.assumption_event_id, k.issued_key, k.role_arn, k.issued_session_name, k.project,
        k.instance, k.instance_source, k.sub, k.aud, k.provider, k.issuing_ip, k.issued_at,
        k.expires_at, k.key_id, k.depth, k.parent_key, k.key_role_arn, k.key_session_name,
        k.key_event_id, k.key_issued_at, k.key_expires_at, k.issued_session_no,
        CASE WHEN c.access_key_id IS NULL THEN 'session' ELSE 'access_key' END AS matched_by
    FROM role_calls c
    JOIN keys k ON c.key_ref = k.key_row
)
SELECT
    *,
    COALESCE(NOT is_service AND source_ip <> issuing_ip AND NOT trusted_source, FALSE) AS foreign_ip
FROM matched
