-- snapshots/set_previous: each new or held snapshot row's previous record count (snapshots/verdicts, in the
-- temporary table _kongchuo_snap_verdicts).
-- Bind parameters: source.
UPDATE raw.snapshots SET previous_count = (
    SELECT v.previous FROM _kongchuo_snap_verdicts v WHERE v.scope_code = raw.snapshots.scope_code
    AND v.snapshot_date = raw.snapshots.snapshot_date)
WHERE source = :source AND status IN ('new', 'held')
