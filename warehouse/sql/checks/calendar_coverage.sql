-- checks/calendar_coverage: DQ10 in absence_only mode, the school calendar's school days in the period (the roll
-- call cannot show them).
-- Bind parameters: start, end.
SELECT min(date) AS first_day, max(date) AS last_day, count(DISTINCT date) AS n
FROM staged.school_calendar WHERE date BETWEEN :start AND :end
