-- sigma (findings --sigma): one finding per (Sigma rule, key the calls were made with), `events`
-- its number of hits. The severity is the rule's level (informational -> info, critical ->
-- high). `detail` names the rule's id, title and author: the Detection Rule License, under which
-- SigmaHQ's rules are shared, asks that matches keep the author.
--
-- Hits on events made with a Google-federated key are attributed as `calls` attributes them (see
-- sigma_hits.sql); every other hit of a rule is one finding without a key, its detail saying so.
WITH hits AS (
    SELECT
        m.rule_no,
        m.event_time,
        c.key_id,
        c.issued_session_name,
        c.project,
        c.instance,
        c.sub,
        c.source_ip,
        COALESCE(STRFTIME(m.event_time, '%Y-%m-%dT%H:%M:%SZ'), '') || ' ' || COALESCE(m.event_id, '')
            AS ev
    FROM sigma_matches m
    LEFT JOIN calls c ON c.event_id = m.event_id
),
per_key AS (
    SELECT
        rule_no,
        key_id,
        MIN(issued_session_name) AS session_name,
        MIN(project) AS project,
        MIN(instance) AS instance,
        MIN(sub) AS sub,
        MIN(source_ip) AS first_ip,
        MAX(source_ip) AS last_ip,
        MIN(event_time) AS first_seen,
        MAX(event_time) AS last_seen,
        COUNT(*) AS events,
        ARRAY_AGG(ev ORDER BY ev) AS evidence
    FROM hits
    GROUP BY rule_no, key_id
)
SELECT
    'sigma' AS kind,
    CASE LOWER(r.level)
        WHEN 'critical' THEN 'high'
        WHEN 'high' THEN 'high'
        WHEN 'medium' THEN 'medium'
        WHEN 'low' THEN 'low'
        ELSE 'info'
    END AS severity,
    k.key_id AS access_key_id,
    k.session_name,
    k.project,
    k.instance,
    k.sub,
    -- One source IP when the key's hits share one.
    CASE WHEN k.first_ip = k.last_ip THEN k.first_ip END AS source_ip,
    k.first_seen,
    k.last_seen,
    k.events,
    k.evidence,
    'Sigma rule ' || r.rule_id || ' "' || r.title || '" by ' || COALESCE(r.author, 'an unnamed author')
        || CASE WHEN k.key_id IS NULL THEN ' (events not made with a Google-federated key)' ELSE '' END
        AS detail
FROM per_key k
JOIN sigma_rules r ON k.rule_no = r.rule_no
