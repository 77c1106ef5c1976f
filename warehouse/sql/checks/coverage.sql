-- checks/coverage: DQ10, how far the period's roll call reaches (first and last day, schools, rows).
-- Bind parameters: start, end.
SELECT min(date) AS first_day, max(date) AS last_day, count(DISTINCT school_code) AS schools,
       count(*) AS n
FROM staged.attendance_current WHERE date BETWEEN :start AND :end
