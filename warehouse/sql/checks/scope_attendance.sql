-- checks/scope_attendance: the rows a roll-call check looks at: every current row of the files holding roll-call rows
-- of the period (so rows whose date did not parse are seen too), plus the rows of those files that have no key at
-- all (no student number and no ID number: staged.attendance_current leaves them out).
-- Bind parameters: start, end.
-- Part columns (identifiers): the staged attendance columns (warehouse.layout.staged_columns).
SELECT {columns} FROM staged.attendance_current
WHERE file_sha IN (SELECT DISTINCT file_sha FROM staged.attendance_current WHERE date BETWEEN :start AND :end)
UNION ALL SELECT {columns} FROM staged.attendance s
WHERE coalesce(s.student_no, s.id_number) IS NULL
  AND s.file_sha IN (SELECT DISTINCT file_sha FROM staged.attendance_current WHERE date BETWEEN :start AND :end)
