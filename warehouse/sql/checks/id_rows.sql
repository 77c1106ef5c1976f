-- checks/id_rows: the current registry rows with an ID number; DQ01/DQ02 run in Python (kongchuo.idnumber) over
-- chunks of it.
SELECT coalesce(t.student_no, t.id_number) AS record_key, t.school_code, t.file_sha, t.row_no,
       t.id_number, t.birth_date, t.gender
FROM staged.registry_current t
WHERE t.id_number IS NOT NULL
