-- timeline: every event of one entity in time order. The entity comes from the one-row table
-- timeline_filter(instance, session_name, access_key_id, sub); exactly one column is set.
--
-- Rows: each AssumeRoleWithWebIdentity (with issuing IP and expiry; a refresh shows which key
-- replaced which), each follow-on call (service, name, region, source IP, error, and what it
-- touched: S3 bucket and key, resources' ARNs, request parameters), marked when it came from an
-- IP other than the one that obtained its key. Calls made with a key chained from the
-- session's (key_lineage) are part of its story, marked `via ROLE`; the AssumeRole that chained
-- it shows `chain: PARENT -> CHILD (ROLE)`. --access-key with a chained key follows its root's
-- session. With --access-key, calls made with a key whose issuing event is not in the input are
-- shown too, as unattributed.
-- A key ID issued more than once (AWS reuses them) follows every session it was issued to.
-- With --gcp-logs, the Google side is interleaved, whatever its time (gcp_timeline): the
-- creation, change of service account and deletion of each instance the followed sessions name,
-- and each token minted for their subs' service accounts.
WITH f AS (
    SELECT DISTINCT
        t.instance,
        t.session_name,
        t.sub,
        COALESCE(l.root_key, t.access_key_id) AS access_key_id,
        t.access_key_id AS asked_key
    FROM timeline_filter t
    LEFT JOIN key_lineage l ON l.access_key_id = t.access_key_id
),
a AS (
    SELECT a.*
    FROM assumptions a CROSS JOIN f
    WHERE (f.instance IS NULL OR a.instance = f.instance)
        AND (f.session_name IS NULL OR a.session_name = f.session_name)
        AND (f.access_key_id IS NULL OR a.access_key_id = f.access_key_id)
        AND (f.sub IS NULL OR a.sub = f.sub)
),
-- A join, not `IN (subquery)` under OR, which polars' streaming engine runs pair by pair.
used AS (
    SELECT DISTINCT assumption_event_id AS used_id FROM calls
),
shown AS (
    SELECT a.* FROM a
    LEFT JOIN used u ON a.event_id = u.used_id
    WHERE a.in_window OR u.used_id IS NOT NULL
),
ok AS (
    SELECT
        *,
        LAG(access_key_id) OVER (PARTITION BY session_name ORDER BY event_time) AS previous_key
    FROM shown
    WHERE error_code IS NULL
),
gcp_places AS (
    SELECT DISTINCT project AS g_project, instance AS g_instance
    FROM a
    WHERE instance IS NOT NULL
),
gcp_subs AS (
    SELECT DISTINCT sub AS g_sub FROM a WHERE sub IS NOT NULL AND error_code IS NULL
),
gcp AS (
    SELECT g.* FROM gcp_timeline g
    JOIN gcp_places p ON g.project = p.g_project AND g.instance = p.g_instance
    UNION ALL
    SELECT g.* FROM gcp_timeline g
    JOIN gcp_subs s ON g.unique_id = s.g_sub
),
rows AS (
    SELECT event_time AS time, 'assumption' AS kind, 'AssumeRoleWithWebIdentity' AS event_name,
        'sts.amazonaws.com' AS event_source, aws_region, issuing_ip AS source_ip,
        FALSE AS foreign_ip, error_code, access_key_id, session_name, instance, sub, issuing_ip,
        expires_at,
        CASE
            WHEN previous_key IS NOT NULL AND previous_key <> access_key_id
                THEN 'key change: ' || previous_key || ' -> ' || access_key_id
            ELSE 'new key ' || access_key_id
        END AS detail,
        CAST(NULL AS STRING) AS s3_bucket, CAST(NULL AS STRING) AS s3_key,
        CAST(NULL AS VARCHAR[]) AS resources, CAST(NULL AS STRING) AS request_parameters
    FROM ok
    UNION ALL
    SELECT event_time AS time, 'failed_assumption' AS kind,
        'AssumeRoleWithWebIdentity' AS event_name, 'sts.amazonaws.com' AS event_source,
        aws_region, issuing_ip AS source_ip, FALSE AS foreign_ip, error_code, access_key_id,
        session_name, instance, sub, issuing_ip, expires_at, 'refused: ' || error_code AS detail,
        CAST(NULL AS STRING) AS s3_bucket, CAST(NULL AS STRING) AS s3_key,
        CAST(NULL AS VARCHAR[]) AS resources, CAST(NULL AS STRING) AS request_parameters
    FROM shown
    WHERE error_code IS NOT NULL
    UNION ALL
    SELECT c.event_time AS time, 'call' AS kind, c.event_name, c.event_source, c.aws_region,
        c.source_ip, c.foreign_ip, c.error_code, c.key_id AS access_key_id,
        c.issued_session_name AS session_name, c.instance, c.sub, c.issuing_ip,
        c.key_expires_at AS expires_at,
        NULLIF(CONCAT_WS('; ',
            CASE WHEN h.hop_key IS NOT NULL
                THEN 'chain: ' || h.hop_parent || ' -> ' || h.hop_key || ' (' || COALESCE(h.hop_role, '?') || ')'
            END,
            CASE WHEN c.depth > 0 THEN 'via ' || COALESCE(c.key_role_arn, '?') END,
            CASE
                WHEN c.foreign_ip THEN 'FOREIGN IP: key obtained from ' || c.issuing_ip
                WHEN c.is_service THEN 'by ' || COALESCE(c.invoked_by, c.source_ip) || ' on the session''s behalf'
            END
        ), '') AS detail,
        c.s3_bucket, c.s3_key, c.resources, c.request_parameters
    FROM calls c
    LEFT JOIN (
        SELECT event_id AS hop_event_id, parent_key AS hop_parent, access_key_id AS hop_key,
            role_arn AS hop_role
        FROM key_lineage
        WHERE depth > 0
    ) h ON h.hop_event_id = c.event_id
    WHERE c.assumption_event_id IN (SELECT event_id FROM a)
    UNION ALL
    SELECT r.event_time AS time, 'unattributed_call' AS kind, r.event_name, r.event_source,
        r.aws_region, r.source_ip, FALSE AS foreign_ip, r.error_code, r.access_key_id,
        r.session_name, CAST(NULL AS STRING) AS instance, r.web_id_sub AS sub,
        CAST(NULL AS STRING) AS issuing_ip, CASE WHEN FALSE THEN r.event_time END AS expires_at,
        'issuing AssumeRoleWithWebIdentity not in the input' AS detail,
        r.s3_bucket, r.s3_key, r.resources, r.request_parameters
    FROM role_calls r CROSS JOIN f
    WHERE f.asked_key IS NOT NULL
        AND r.access_key_id = f.asked_key
        AND r.event_id NOT IN (SELECT event_id FROM calls)
    UNION ALL
    SELECT g.time, g.kind, g.event_name, g.event_source, CAST(NULL AS STRING) AS aws_region,
        g.source_ip, FALSE AS foreign_ip, CAST(NULL AS STRING) AS error_code,
        CAST(NULL AS STRING) AS access_key_id, CAST(NULL AS STRING) AS session_name,
        g.instance, g.unique_id AS sub, CAST(NULL AS STRING) AS issuing_ip,
        CASE WHEN FALSE THEN g.time END AS expires_at, g.detail,
        CAST(NULL AS STRING) AS s3_bucket, CAST(NULL AS STRING) AS s3_key,
        CAST(NULL AS VARCHAR[]) AS resources, CAST(NULL AS STRING) AS request_parameters
    FROM gcp g
)
SELECT * FROM rows
ORDER BY time, kind, event_name
