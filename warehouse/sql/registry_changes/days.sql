-- registry_changes/days -> _r8_days: the school days (roll-call dates) of each school in the review window.
-- Bind parameters: win_start, cutoff.
CREATE TEMP TABLE _r8_days AS SELECT DISTINCT school_code, date FROM staged.attendance_current
    WHERE date > CAST(:win_start AS DATE) AND date <= CAST(:cutoff AS DATE)
