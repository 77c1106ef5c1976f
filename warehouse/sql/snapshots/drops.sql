-- snapshots/drops: the new snapshots whose record count for a scope fell below warn_below times the previous one
-- (snapshots/verdicts, in the temporary table _kongchuo_snap_verdicts), by file name and scope.
-- Bind parameters: source, warn_below (1 - warehouse.views.WARN_DROP).
SELECT DISTINCT f.original_name, v.scope_code, v.previous, v.now_count
FROM raw.snapshots x JOIN _kongchuo_snap_verdicts v
  ON v.scope_code = x.scope_code AND v.snapshot_date = x.snapshot_date
JOIN raw.files f ON f.file_sha = x.file_sha AND f.source = x.source
WHERE x.source = :source AND x.status = 'new' AND v.previous IS NOT NULL
  AND v.now_count < CAST(:warn_below AS DECIMAL(4, 2)) * v.previous ORDER BY 1, 2
