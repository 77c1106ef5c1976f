-- reports/person: who each child of the keys query is, for the people working the case (R3, R4, R6): the registry
-- record they are filed under (matching/first_records: active first, then by school code), else the census child.
-- The registry is cut down to the keys' persons before the window (over a province's whole registry the window is
-- what costs).
-- Part keys (query): person_key, id_number, student_no, school_code, township_code of the children.
-- Part first_records (query): matching/first_records of the keys' persons (persons: p.person_key IN k).
WITH k AS ({keys}),
reg AS ({first_records})
SELECT k.person_key, coalesce(r.id_number, c.id_number, k.id_number) AS id_number,
       coalesce(r.student_no, k.student_no) AS student_no, coalesce(r.name, c.name) AS name,
       coalesce(r.gender, c.gender) AS gender, coalesce(r.birth_date, c.birth_date) AS birth_date,
       coalesce(r.school_code, k.school_code) AS school_code, coalesce(r.school_name, rs.school_name) AS school_name,
       r.grade, r.class_name, r.status,
       coalesce(r.school_township_code, k.township_code, c.township_code) AS township_code, t.township_name,
       c.village, r.guardian_name, r.guardian_phone, r.is_poverty_family, r.is_left_behind, r.is_migrant,
       coalesce(r.is_disabled, c.is_disabled) AS is_disabled, r.is_in_difficulty
FROM k
LEFT JOIN reg r ON r.person_key = k.person_key
LEFT JOIN staged.schools rs ON rs.school_code = r.school_code
LEFT JOIN staged.census_current c ON c.id_number = k.person_key
LEFT JOIN staged.townships t ON t.township_code = coalesce(r.school_township_code, k.township_code, c.township_code)
