-- snapshots/candidates: the registered snapshots of one source (one row per file and scope) that may be a scope's
-- current snapshot: applied or confirmed (and, to judge new files, new or held), of ingested files.
-- Part src (name): the source, registry or census (warehouse.views.SNAPSHOT_VIEWS).
-- Part pending (condition): TRUE to take new and held snapshots too, else FALSE.
-- Part dated (condition): TRUE, or a bound on n.snapshot_date (dated up to a period's end).
SELECT n.scope_code, n.file_sha, n.snapshot_date, n.delivery_key, n.record_count, n.status,
       f.ingested_at
FROM raw.snapshots n JOIN raw.files f ON f.file_sha = n.file_sha AND f.source = n.source
WHERE n.source = '{src}' AND (n.status IN ('applied', 'confirmed') OR ({pending} AND n.status IN ('new', 'held')))
    AND f.status = 'ingested' AND {dated}
