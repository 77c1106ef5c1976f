-- report_files/source_files: the ingested files a period's outputs are built from: the registry and census snapshot
-- files the current tables hold and every event file whose dates start on or before the period end.
-- Bind parameters: end.
-- Part scopes (relation): the table of the current tables' snapshot files (warehouse.views.SCOPES_TABLE).
SELECT DISTINCT f.source, f.original_name, f.file_sha FROM raw.files f
WHERE f.status = 'ingested' AND (
    f.file_sha IN (SELECT file_sha FROM {scopes})
    OR (f.source NOT IN ('registry', 'census') AND (f.min_date IS NULL OR f.min_date <= :end)))
ORDER BY f.source, f.original_name
