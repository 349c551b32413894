-- sigma_hits: one row per (Sigma rule, event) that the rule holds for, over the records in the
-- window (`janus-audit sigma RULES ...`). Rules are evaluated on each record's own JSON as it is
-- read; one copy of each repeated eventID is kept, as in every table.
--
-- An event made with a Google-federated key (a row of `calls`) is attributed as `calls`
-- attributes it: the instance, project and sub of the AssumeRoleWithWebIdentity at the root of
-- its key, that root's session name and key (root_key), how deep in a role chain the key was
-- (depth), and the key the call was made with (access_key_id). Any other event (an IAM user's,
-- a console login, a service's) has those columns null: Sigma's verdict without janus-audit's.
-- An event without an eventID cannot be joined to its call and is listed unattributed.
SELECT
    r.rule_id,
    r.title,
    r.level,
    m.event_id,
    m.event_time,
    c.instance,
    c.issued_session_name AS session_name,
    c.project,
    c.sub,
    c.issued_key AS root_key,
    c.depth,
    c.access_key_id,
    c.source_ip
FROM sigma_matches m
JOIN sigma_rules r ON m.rule_no = r.rule_no
LEFT JOIN calls c ON c.event_id = m.event_id
ORDER BY m.event_time, m.event_id, r.rule_id, r.rule_no
