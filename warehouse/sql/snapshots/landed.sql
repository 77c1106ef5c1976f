-- snapshots/landed: the ingested files of a source not registered as snapshots yet, dated by their landing day
-- (origin 'landed') and applied: a rebuild in SQL only (the export date and the file name are read by
-- warehouse.views.register_snapshots during ingestion).
-- Part src (name): the source, registry or census.
SELECT f.file_sha, CAST(f.ingested_at AS DATE) AS d, 'landed' AS origin, f.original_name AS delivery,
       'applied' AS status
FROM raw.files f
WHERE f.source = '{src}' AND f.status = 'ingested'
  AND f.file_sha NOT IN (SELECT n.file_sha FROM raw.snapshots n WHERE n.source = '{src}')
