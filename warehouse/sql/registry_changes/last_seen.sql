-- registry_changes/last_seen -> _r8_last: each person's last roll-call row in the review window.
-- Bind parameters: win_start, cutoff.
-- Part attendance_window (subquery): warehouse.views.attendance_persons_sql of the roll call after win_start up to the cut-off.
CREATE TEMP TABLE _r8_last AS SELECT ap.person_key, max(ap.date) AS last_seen
    FROM {attendance_window} ap
    GROUP BY ap.person_key
