-- snapshots/dated_new: the files register_snapshots dated (export date, file name or landing), as new snapshots.
SELECT file_sha, d, origin, delivery, 'new' AS status FROM _kongchuo_snap_dates
