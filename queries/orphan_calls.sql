-- orphan_calls: the calls made with a Google-federated temporary key (ASIA, with Google
-- webIdFederationData) that no key of the input's lineage matched: their issuing
-- AssumeRoleWithWebIdentity is not in the input, or (AWS reuses temporary key IDs) the input
-- issued that key ID to another session or at another time. Registered as the table
-- `orphan_calls` when a query names it; override it like any other query.
--
-- Over a dataset this table is made a part of the window at a time, and only its rows are kept:
-- an override must decide each call from its own row, as this one does, never from other calls.
SELECT *
FROM role_calls
WHERE key_ref IS NULL
    AND web_id_provider = 'accounts.google.com'
    AND access_key_id LIKE 'ASIA%'
