-- township/attendance_summary -> derived.township_attendance_summary: per school of one township and month,
-- records, active records, active records with no roll-call row, records with an unexcused run of
-- consecutive_days or more, and unexcused days (from derived.township_roster).
-- Bind parameters: period, township, consecutive_days.
SELECT period, township_code, school_code, count(*) AS records,
       sum(CASE WHEN status = 'active' THEN 1 ELSE 0 END) AS active_records,
       sum(CASE WHEN status = 'active' AND attendance_days = 0 THEN 1 ELSE 0 END) AS no_attendance,
       sum(CASE WHEN max_unexcused_run >= :consecutive_days THEN 1 ELSE 0 END) AS unexcused_run,
       sum(unexcused_days) AS unexcused_days
FROM derived.township_roster WHERE period = :period AND township_code = :township
GROUP BY period, township_code, school_code
