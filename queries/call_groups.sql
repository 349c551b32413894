-- call_groups: the window's calls as their groups (key_activity: one row per key, service, source
-- IP and kind of call, with its count and first and last time), each group given its key's root
-- as calls.sql gives each call. Registered as the table `call_groups` when a query names it;
-- override it like any other query.
--
-- The sums, minimums, maximums and sets over the groups are those over the calls, so a report
-- that reads call_groups instead of calls gives the same numbers and holds the groups, never the
-- calls. `foreign_ip` is calls.sql's rule applied to each group, against the IP that obtained
-- the root key: never for calls made by AWS services on the session's behalf, nor from a
-- --trusted-cidrs range.
-- Unless this file is overridden, janus-audit makes the same rows without running it (each
-- group's key found at its row of key_lineage, only the columns the queries name added), in
-- key_activity's order: a query without ORDER BY may see them in another order than this join
-- gives. When only the shipped queries read this table, rows equal in every column they name
-- are made one, with calls summed and the least first_call and greatest last_call: they only
-- sum, take extremes and collect distinct values over it.
-- Each key is joined to its root first, then the groups to their keys: the join of every group
-- is then done once, against a table of keys, and not twice (at 10M events, 160 MB less heap
-- for by-instance).
WITH k AS (
    SELECT
        l.key_ref,
        l.event_id AS key_event_id,
        l.depth,
        r.event_id AS assumption_event_id,
        r.session_name AS issued_session_name,
        r.issuing_ip
    FROM key_lineage l
    JOIN assumptions r ON l.root_event_id = r.event_id
    WHERE r.error_code IS NULL AND r.access_key_id IS NOT NULL
)
SELECT
    g.*,
    k.key_event_id,
    k.depth,
    k.assumption_event_id,
    k.issued_session_name,
    k.issuing_ip,
    COALESCE(NOT g.is_service AND g.source_ip <> k.issuing_ip AND NOT g.trusted_source, FALSE) AS foreign_ip
FROM key_activity g
JOIN k ON g.key_ref = k.key_ref
