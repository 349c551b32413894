-- session_name_sub_mismatch (high): one session name, i.e. one claimed instance, is assumed by more
-- than one Google service account `sub`. The first sub seen with the name is taken as its owner;
-- each later sub that breaks the pattern is one finding, naming the first key issued to it.
-- Only successful assumptions in the window count: a refused one obtained nothing. Only names
-- that carry the fetcher's project.instance convention claim an instance: other providers' fixed
-- names (every GitHub Actions run is `GitHubActions` by default, each branch with its own sub)
-- and bare numbers claim none.
WITH claims AS (
    SELECT event_id, event_time, session_name, sub, access_key_id, issuing_ip, project, instance
    FROM assumptions
    WHERE in_window AND error_code IS NULL AND session_name IS NOT NULL AND sub IS NOT NULL
        AND instance_source IN ('hostname', 'instance-name', 'shortened')
),
-- Only a name assumed by two subs or more can break the pattern: the others (nearly all) are
-- not carried into the windows below, which held every assumption's strings at once.
contested AS (
    SELECT session_name FROM claims GROUP BY session_name HAVING COUNT(DISTINCT sub) > 1
),
ok AS (
    SELECT event_id, event_time, session_name, sub, access_key_id, issuing_ip, project, instance,
        COALESCE(STRFTIME(event_time, '%Y-%m-%dT%H:%M:%SZ'), '') || ' ' || COALESCE(event_id, '') AS ev
    FROM claims
    WHERE session_name IN (SELECT session_name FROM contested)
),
owner AS (
    SELECT session_name, sub AS owner_sub, owner_since
    FROM (
        SELECT
            session_name,
            sub,
            event_time AS owner_since,
            ROW_NUMBER() OVER (PARTITION BY session_name ORDER BY event_time, event_id) AS n
        FROM ok
    ) o
    WHERE n = 1
),
intruders AS (
    SELECT
        ok.session_name,
        ok.sub,
        FIRST(owner.owner_sub) AS owner_sub,
        FIRST(ok.project) AS project,
        FIRST(ok.instance) AS instance,
        MIN(ok.event_time) AS first_seen,
        MAX(ok.event_time) AS last_seen,
        COUNT(*) AS events,
        ARRAY_TO_STRING(ARRAY_AGG(DISTINCT ok.issuing_ip ORDER BY ok.issuing_ip), ', ') AS ips,
        ARRAY_AGG(ok.ev ORDER BY ok.ev) AS evidence
    FROM ok
    JOIN owner ON ok.session_name = owner.session_name
    WHERE ok.sub <> owner.owner_sub
    GROUP BY ok.session_name, ok.sub
),
first_key AS (
    SELECT session_name, sub, access_key_id, issuing_ip
    FROM (
        SELECT
            session_name,
            sub,
            access_key_id,
            issuing_ip,
            ROW_NUMBER() OVER (PARTITION BY session_name, sub ORDER BY event_time, event_id) AS n
        FROM ok
    ) k
    WHERE n = 1
)
SELECT
    'session_name_sub_mismatch' AS kind,
    'high' AS severity,
    k.access_key_id,
    i.session_name,
    i.project,
    i.instance,
    i.sub,
    k.issuing_ip AS source_ip,
    i.first_seen,
    i.last_seen,
    i.events,
    i.evidence,
    'session name ' || i.session_name || ' belongs to sub ' || i.owner_sub || ' but was assumed by sub '
        || i.sub || ' (' || CAST(i.events AS STRING) || ' time(s), from ' || i.ips || ')' AS detail
FROM intruders i
JOIN first_key k ON i.session_name = k.session_name AND i.sub = k.sub
