-- fix_list/rows: R5 人籍不一致整改清单, every finding of the period's latest check runs joined to the record it names:
-- the registry record at that school, else any registry record with the key, else the census child with that ID.
-- A DQ06 finding (present but unregistered) names a roll-call key: the child's ID is the roll call's id_number,
-- else the ID inside a G student number, and the name comes from any registry record or the census child.
-- Bind parameters: p (the period).
-- Part findings (query): checks' latest_run_findings_sql of the fix list's checks (DQ04-DQ07).
WITH f0 AS ({findings}),
att AS (SELECT coalesce(student_no, id_number) AS record_key, school_code, max(id_number) AS id_number,
               max(student_no) AS student_no
        FROM staged.attendance_current
        WHERE coalesce(student_no, id_number) IN (SELECT record_key FROM f0 WHERE check_id = 'DQ06')
        GROUP BY coalesce(student_no, id_number), school_code),
f AS (SELECT f0.*, a.student_no AS att_student_no,
             coalesce(a.id_number, CASE WHEN a.student_no LIKE 'G%' AND length(a.student_no) = 19
                                        THEN upper(substr(a.student_no, 2)) END) AS att_id_number
      FROM f0 LEFT JOIN att a ON f0.check_id = 'DQ06' AND a.record_key = f0.record_key
                             AND a.school_code = f0.school_code),
reg AS (SELECT coalesce(student_no, id_number) AS record_key, student_no, id_number, name, school_code, grade,
               class_name, status,
               ROW_NUMBER() OVER (PARTITION BY coalesce(student_no, id_number), school_code ORDER BY row_no) AS rn
        FROM staged.registry_current),
by_id AS (SELECT id_number, student_no, name,
                 ROW_NUMBER() OVER (PARTITION BY id_number ORDER BY school_code) AS rn
          FROM staged.registry_current WHERE id_number IS NOT NULL),
by_no AS (SELECT student_no, id_number, name,
                 ROW_NUMBER() OVER (PARTITION BY student_no ORDER BY school_code) AS rn
          FROM staged.registry_current WHERE student_no IS NOT NULL),
cen AS (SELECT id_number, name FROM staged.census_current)
SELECT f.check_id, f.record_key, f.school_code, f.detail, f.row_no, fl.original_name,
       coalesce(r.student_no, bn.student_no, f.att_student_no, bi.student_no,
                CASE WHEN length(f.record_key) <> 18 THEN f.record_key END) AS student_no,
       coalesce(r.id_number, bn.id_number, f.att_id_number, bi.id_number, c.id_number) AS id_number,
       coalesce(r.name, bn.name, bi.name, c.name) AS name,
       r.grade, r.class_name, r.status,
       s.school_name, s.township_code, t.township_name, t.district_code
FROM f
LEFT JOIN reg r ON r.rn = 1 AND r.record_key = f.record_key AND r.school_code = f.school_code
LEFT JOIN by_no bn ON bn.rn = 1 AND bn.student_no = f.record_key
LEFT JOIN by_id bi ON bi.rn = 1 AND bi.id_number = coalesce(f.att_id_number, f.record_key)
LEFT JOIN cen c ON c.id_number = coalesce(f.att_id_number, f.record_key)
LEFT JOIN raw.files fl ON fl.file_sha = f.file_sha
LEFT JOIN staged.schools s ON s.school_code = f.school_code
LEFT JOIN staged.townships t ON t.township_code = s.township_code
ORDER BY t.township_code, f.school_code, f.check_id, f.record_key, f.row_no
