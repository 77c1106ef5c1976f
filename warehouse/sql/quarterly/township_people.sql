-- quarterly/township_people: the persons behind every township count of R2 and derived.township_rates, as
-- (township_code, measure, person). Exemptions count when in force on the cut-off (end), as for R1 on its month's
-- last day.
-- Bind parameters: period (quarter), start and end (quarter start, cut-off), ref_date, last_month, rule thresholds.
-- Part census_birth (expression): warehouse.views.census_birth_sql of c.
-- Part age_on_ref_date (expression): assets.rules.age_sql of c.birth_date on ref_date.
-- Part out_of_school (query): rules/out_of_school (with the window's end at the cut-off).
-- Part enrolled_registry_persons (query): warehouse.views.registry_persons_sql of the records 在读 or 休学.
WITH census_born AS MATERIALIZED (  -- the birth date once per child (from a valid ID, else birth_date)
    SELECT c.id_number, c.township_code, c.residence_status, {census_birth} AS birth_date
    FROM staged.census_current c WHERE c.residence_status IN ('resident', 'away')
),
census_age AS (
    SELECT c.id_number, c.township_code, c.residence_status FROM census_born c
    WHERE c.birth_date IS NOT NULL
      AND {age_on_ref_date} BETWEEN :min_school_age AND :max_school_age
),
oos AS ({out_of_school}),
qs AS (SELECT * FROM derived.quarterly_suspected WHERE period = :period)
SELECT township_code, 'school_age' AS measure, id_number AS person FROM census_age
UNION ALL
SELECT c.township_code, 'enrolled', c.id_number FROM census_age c
    WHERE EXISTS (SELECT 1 FROM ({enrolled_registry_persons}) r
                  WHERE r.person_key = c.id_number)
UNION ALL SELECT township_code, 'out_of_school', id_number FROM oos WHERE NOT verify_elsewhere
UNION ALL SELECT township_code, 'verify_elsewhere', id_number FROM oos WHERE verify_elsewhere
UNION ALL SELECT DISTINCT township_code, 'suspected', person_key FROM qs
UNION ALL SELECT township_code, 'still_out', id_number FROM oos WHERE NOT verify_elsewhere
UNION ALL SELECT DISTINCT township_code, 'still_out', person_key FROM qs WHERE month = :last_month
