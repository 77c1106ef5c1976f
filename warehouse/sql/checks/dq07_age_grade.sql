-- checks/dq07_age_grade: DQ07, an active record whose full years on 31 August minus its grade lies outside 5..8.
-- Bind parameters: ref_year, ref_md (month * 100 + day of the school-age reference date).
-- Part registry_persons_active_graded (query): warehouse.views.registry_persons_sql of the active records with a grade.
-- Part grade_label (expression): kongchuo.labels.grade_label_sql of grade (六年级).
WITH born AS MATERIALIZED (  -- school age from the birth date inside a valid ID, else birth_date (once a row)
    SELECT record_key, school_code, file_sha, row_no, grade, age_birth_date
    FROM ({registry_persons_active_graded}) t
),
reg AS (
    SELECT t.record_key, t.school_code, t.file_sha, t.row_no, t.grade,
           :ref_year - CAST(EXTRACT(YEAR FROM t.age_birth_date) AS INTEGER)
           - CASE WHEN EXTRACT(MONTH FROM t.age_birth_date) * 100 + EXTRACT(DAY FROM t.age_birth_date) > :ref_md
                  THEN 1 ELSE 0 END AS age
    FROM born t WHERE t.age_birth_date IS NOT NULL
)
SELECT record_key, school_code, file_sha, row_no,
       '8月31日周岁 ' || CAST(age AS TEXT) || ' 岁，就读' || {grade_label}
       || '（周岁减年级为 ' || CAST(age - grade AS TEXT) || '，应在5至8之间）' AS detail
FROM reg WHERE age - grade NOT BETWEEN 5 AND 8
