-- flagged_calls: the calls that a finding about single calls can be about, each with the marks
-- that say why. Registered as the table `flagged_calls` (after `calls`) when a query names it;
-- override it like any other query. The findings read these marks, so each rule has this one
-- home: foreign_ip is calls.sql's.
--
-- after_expiry: made after its key's expiration (a chained key's own, not its root's).
-- recon: a List*, Describe*, Get*Account* or GetCallerIdentity call.
-- denied: refused as access denied.
-- Calls AWS services make on the session's behalf (is_service) are never recon or denied.
--
-- Over a dataset this table is made a part of the window at a time, and only its rows are kept
-- (most calls have no mark): an override must decide each call from its own row and its key's,
-- as this one does, never from other calls.
-- When the only queries that read it are the shipped findings (recon_burst, use_after_expiry,
-- key_used_from_foreign_ip), the rows marked only recon or denied are counted per key and
-- window bucket as the calls are read, and kept only where recon_burst's windows can cross
-- (src/analyzer/dataset/bursts.rs): those findings are the same, and `query` over this table
-- still has every row.
WITH marked AS (
    SELECT
        *,
        COALESCE(event_time > key_expires_at, FALSE) AS after_expiry,
        COALESCE(NOT is_service AND (event_name LIKE 'List%' OR event_name LIKE 'Describe%'
            OR (event_name LIKE 'Get%' AND event_name LIKE '%Account%')
            OR event_name = 'GetCallerIdentity'), FALSE) AS recon,
        COALESCE(NOT is_service AND (error_code IN ('AccessDenied', 'AccessDeniedException',
            'Client.UnauthorizedOperation', 'UnauthorizedOperation')
            OR error_code LIKE '%AccessDenied%'), FALSE) AS denied
    FROM calls
)
SELECT * FROM marked
WHERE foreign_ip OR after_expiry OR recon OR denied
