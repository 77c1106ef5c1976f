-- daily/school_days: each school's school days from lo to hi, numbered in date order (day_no): the dates of its
-- roll call (rollcall mode) or of the school calendar (absence_only mode; a school without a calendar of its own
-- takes the district-wide one, school_code NULL). What R7's streaks and the ledger's SD1 date count over.
-- Bind parameters: absence_only (1 in absence_only mode).
-- Part attendance_window (subquery): the window's roll-call rows of any status (school_code, date), not matched to
-- persons: a school's days do not depend on whose rows they are.
-- Part lo (expression): the window's first day, a date expression of bind parameters.
-- Part hi (expression): the window's last day.
WITH rc AS (SELECT DISTINCT school_code, date FROM {attendance_window} w WHERE school_code IS NOT NULL),
schools AS (SELECT DISTINCT school_code FROM rc),
days AS (
    SELECT school_code, date FROM rc WHERE :absence_only = 0
    UNION
    SELECT s.school_code, c.date FROM schools s JOIN staged.school_calendar c ON c.school_code = s.school_code
    WHERE :absence_only = 1 AND c.date BETWEEN {lo} AND {hi}
    UNION
    SELECT s.school_code, c.date FROM schools s CROSS JOIN staged.school_calendar c
    WHERE :absence_only = 1 AND c.school_code IS NULL AND c.date BETWEEN {lo} AND {hi}
      AND NOT EXISTS (SELECT 1 FROM staged.school_calendar o WHERE o.school_code = s.school_code)
)
SELECT school_code, date, row_number() OVER (PARTITION BY school_code ORDER BY date) AS day_no
FROM days
