-- reports/person: who each child of the keys query is, for the people working the case (R3, R4, R6): their
-- registry record (active first), else the census child. The registry is cut down to the keys' persons before the
-- window (over a province's whole registry the window is what costs).
-- Part keys (query): person_key, id_number, student_no, school_code, township_code of the children.
-- Part person_key (expression): the person of a registry row aliased r (warehouse.views).
WITH k AS ({keys}),
reg AS (
    SELECT {person_key} AS person_key, r.id_number, r.student_no, r.name, r.gender,
           r.birth_date, r.school_code, coalesce(r.school_name, s.school_name) AS school_name, r.grade,
           r.class_name, r.status, coalesce(s.township_code, r.township_code) AS township_code,
           r.guardian_name, r.guardian_phone, r.is_poverty_family, r.is_left_behind, r.is_migrant,
           r.is_disabled, r.is_in_difficulty,
           row_number() OVER (PARTITION BY {person_key}
                              ORDER BY CASE WHEN r.status = 'active' THEN 0 ELSE 1 END, r.school_code) AS rn
    FROM staged.registry_current r LEFT JOIN staged.schools s ON s.school_code = r.school_code
    WHERE {person_key} IN (SELECT person_key FROM k)
)
SELECT k.person_key, coalesce(r.id_number, c.id_number, k.id_number) AS id_number,
       coalesce(r.student_no, k.student_no) AS student_no, coalesce(r.name, c.name) AS name,
       coalesce(r.gender, c.gender) AS gender, coalesce(r.birth_date, c.birth_date) AS birth_date,
       coalesce(r.school_code, k.school_code) AS school_code, r.school_name, r.grade, r.class_name, r.status,
       coalesce(r.township_code, k.township_code, c.township_code) AS township_code, t.township_name,
       c.village, r.guardian_name, r.guardian_phone, r.is_poverty_family, r.is_left_behind, r.is_migrant,
       coalesce(r.is_disabled, c.is_disabled) AS is_disabled, r.is_in_difficulty
FROM k
LEFT JOIN reg r ON r.person_key = k.person_key AND r.rn = 1
LEFT JOIN staged.census_current c ON c.id_number = k.person_key
LEFT JOIN staged.townships t ON t.township_code = coalesce(r.township_code, k.township_code, c.township_code)
