-- registry_changes/present -> _r8_present: who was present where and when in the review window (from the day after
-- the earliest old snapshot to the cut-off).
-- Bind parameters: win_start, cutoff.
-- Part attendance_window (subquery): warehouse.views.attendance_persons_sql of the roll call after win_start up to the cut-off.
CREATE TEMP TABLE _r8_present AS SELECT DISTINCT ap.person_key, ap.school_code, ap.date
    FROM {attendance_window} ap
    WHERE ap.status = 'present'
