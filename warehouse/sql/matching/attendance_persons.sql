-- matching/attendance_persons: the roll-call rows of staged.attendance_current in a window, each with its person_key:
-- the row's ID number; else, through its student number, the person of the registry record with that number (any
-- state); else the ID inside a G number; else the student number. Only the student numbers the window's ID-less
-- rows use are looked up (grouping the whole registry would cost as much as the registry is large, every time).
-- Part window (condition): which rows, on a (a date window of bind parameters).
-- Part registry_person_key (expression): a registry record's person (warehouse.views.registry_person_key_sql on t).
-- Part g_number_id (expression): the ID inside the row's G student number (warehouse.views.g_number_id_sql).
WITH ap_rows AS (
    SELECT a.student_no, a.id_number, a.school_code, a.date, a.status, a.file_sha, a.row_no
    FROM staged.attendance_current a WHERE {window}
),
ap_sno AS (
    SELECT t.student_no, min({registry_person_key}) AS person_key
    FROM staged.registry_current t
    WHERE t.student_no IN (SELECT student_no FROM ap_rows WHERE id_number IS NULL)
    GROUP BY t.student_no
)
SELECT coalesce(r.student_no, r.id_number) AS record_key,
       coalesce(r.id_number, s.person_key, {g_number_id}, r.student_no) AS person_key,
       r.student_no, r.id_number, r.school_code, r.date, r.status, r.file_sha, r.row_no
FROM ap_rows r LEFT JOIN ap_sno s ON r.id_number IS NULL AND s.student_no = r.student_no
