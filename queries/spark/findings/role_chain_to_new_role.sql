-- Spark SQL sibling of queries/findings/role_chain_to_new_role.sql, written by queries/spark/translate.py: do not edit.
-- role_chain_to_new_role (medium): a federated session chains (AssumeRole with its key, or with a
-- key chained from it) into a role that the same instance (session name) never chained into
-- earlier in the input. One finding per instance and new role, naming the first key issued in
-- that role; events counts the instance's chains into the role in the window.
-- "Earlier" is the input itself: a report over a longer input (more days before the window)
-- knows more of an instance's usual chains and so is quieter.
WITH hop AS (
    SELECT
        r.session_name,
        r.project,
        r.instance,
        r.sub,
        l.role_arn,
        l.access_key_id,
        l.parent_key,
        l.issuing_ip,
        l.issued_at,
        l.in_window,
        l.event_id,
        COALESCE(DATE_FORMAT(l.issued_at, "yyyy-MM-dd'T'HH:mm:ss'Z'"), '') || ' ' || COALESCE(l.event_id, '') AS ev
    FROM key_lineage l
    JOIN assumptions r ON l.root_event_id = r.event_id
    WHERE l.depth > 0 AND l.role_arn IS NOT NULL AND l.issued_at IS NOT NULL
        AND r.session_name IS NOT NULL
),
first_hop AS (
    SELECT *
    FROM (
        SELECT
            *,
            ROW_NUMBER() OVER (PARTITION BY session_name, role_arn ORDER BY issued_at, event_id) AS n
        FROM hop
    ) h
    WHERE n = 1 AND in_window
),
g AS (
    SELECT
        session_name,
        role_arn,
        MAX(issued_at) AS last_seen,
        COUNT(*) AS events,
        ARRAY_SORT(COLLECT_LIST(ev)) AS evidence
    FROM hop
    WHERE in_window
    GROUP BY session_name, role_arn
)
SELECT
    'role_chain_to_new_role' AS kind,
    'medium' AS severity,
    f.access_key_id,
    f.session_name,
    f.project,
    f.instance,
    f.sub,
    f.issuing_ip AS source_ip,
    f.issued_at AS first_seen,
    g.last_seen,
    g.events,
    g.evidence,
    'first chain of this instance into ' || f.role_arn || ' (from key ' || COALESCE(f.parent_key, '?') || ')' AS detail
FROM first_hop f
JOIN g ON f.session_name = g.session_name AND f.role_arn = g.role_arn
