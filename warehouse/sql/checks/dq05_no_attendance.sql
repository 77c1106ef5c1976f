-- checks/dq05_no_attendance: DQ05, an active record whose person has no roll-call row at its school in the period.
-- Bind parameters: period, start, end.
-- Part attendance_period (subquery): warehouse.views.attendance_persons_sql of the period's roll call (start..end).
-- Part registry_persons_active (query): warehouse.views.registry_persons_sql of the active records (t.status = 'active').
-- Part period_label (expression): kongchuo.labels.period_label_sql of period (2026年06月).
WITH
att AS (SELECT * FROM {attendance_period} ap),
seen AS (SELECT DISTINCT person_key, school_code FROM att)
SELECT r.record_key, r.school_code, r.file_sha, r.row_no,
       '在读学籍，' || {period_label} || '在本校无任何考勤记录' AS detail
FROM ({registry_persons_active}) r
WHERE NOT EXISTS (
    SELECT 1 FROM seen WHERE seen.person_key = r.person_key AND seen.school_code = r.school_code)
