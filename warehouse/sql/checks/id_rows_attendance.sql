-- checks/id_rows_attendance: DQ01 rows of the period's roll call: one per (pupil, school, file, ID number), at
-- its first row.
-- Bind parameters: start, end.
SELECT coalesce(t.student_no, t.id_number) AS record_key, t.school_code, t.file_sha,
       min(t.row_no) AS row_no, t.id_number, CAST(NULL AS DATE) AS birth_date, CAST(NULL AS TEXT) AS gender
FROM staged.attendance_current t
WHERE t.id_number IS NOT NULL AND t.date BETWEEN :start AND :end
GROUP BY coalesce(t.student_no, t.id_number), t.school_code, t.file_sha, t.id_number
