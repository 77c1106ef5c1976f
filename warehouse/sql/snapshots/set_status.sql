-- snapshots/set_status: the new and held snapshots of a source become held (a file of which a scope's record count
-- fell below hold_below times the previous one is held whole) or applied.
-- Bind parameters: source, hold_below (1 - warehouse.views.HOLD_DROP).
UPDATE raw.snapshots SET status = CASE WHEN file_sha IN (
    SELECT DISTINCT x.file_sha FROM raw.snapshots x JOIN _kongchuo_snap_verdicts v
        ON v.scope_code = x.scope_code AND v.snapshot_date = x.snapshot_date
    WHERE x.source = :source AND x.status IN ('new', 'held') AND v.previous IS NOT NULL
      AND v.now_count < CAST(:hold_below AS DECIMAL(4, 2)) * v.previous) THEN 'held' ELSE 'applied' END
WHERE source = :source AND status IN ('new', 'held')
