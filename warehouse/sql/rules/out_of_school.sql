-- rules/out_of_school -> derived.out_of_school: 失学, census children of school age (min_school_age..max_school_age
-- full years on ref_date, residence 在户 or 外出) with no registry record in any state (by ID, then by the ID inside
-- a G number) and no exemption in force on the cut-off; 外出 ones get verify_elsewhere.
-- Bind parameters: period, end, ref_date, min_school_age, max_school_age.
-- Part g_number_id (expression): warehouse.views.g_number_id_sql of t.student_no (the ID inside a G number).
-- Part id_valid (condition): warehouse.views.valid_id_sql of t.id_number (GB 11643-1999).
-- Part census_birth (expression): warehouse.views.census_birth_sql of c (birth date from a valid ID, else birth_date).
-- Part age_on_ref_date (expression): assets.rules.age_sql of c.birth_date on ref_date.
WITH reg_ids AS (
    SELECT id_number AS person_id FROM staged.registry_current WHERE id_number IS NOT NULL
    UNION SELECT {g_number_id} FROM staged.registry_current t  -- G + another ID: rare
        WHERE substr(t.student_no, 1, 1) = 'G' AND (t.id_number IS NULL OR t.student_no <> 'G' || t.id_number)
          AND (t.id_number IS NULL OR NOT {id_valid})
),
census AS MATERIALIZED (  -- the birth date once per child (age_sql repeats its argument)
    SELECT c.id_number, c.township_code, c.residence_status, {census_birth} AS birth_date
    FROM staged.census_current c WHERE c.residence_status IN ('resident', 'away')
)
SELECT :period AS period, c.id_number, c.township_code, c.birth_date,
       (c.residence_status = 'away') AS verify_elsewhere
FROM census c
WHERE c.birth_date IS NOT NULL
  AND {age_on_ref_date} BETWEEN :min_school_age AND :max_school_age
  AND NOT EXISTS (SELECT 1 FROM reg_ids r WHERE r.person_id = c.id_number)
  AND NOT EXISTS (SELECT 1 FROM staged.exemptions e WHERE e.id_number = c.id_number
                  AND e.approved_on <= :end AND e.valid_until >= :end)
