-- checks/dq04_duplicate_registry: DQ04, a person with several active registry records (one finding per record).
-- The DISTINCT aggregates run only over the few persons with several records.
-- Part registry_persons_active (query): warehouse.views.registry_persons_sql of the active records (t.status = 'active').
WITH reg AS (
    SELECT record_key, person_key, school_code, file_sha, row_no
    FROM ({registry_persons_active}) t
),
multi AS (SELECT person_key FROM reg GROUP BY person_key HAVING count(*) > 1),
dup AS (  -- DISTINCT aggregates only over the few persons with several records
    SELECT person_key, count(*) AS n, count(DISTINCT school_code) AS schools,
           string_agg(DISTINCT school_code, '、' ORDER BY school_code) AS school_list
    FROM reg WHERE person_key IN (SELECT person_key FROM multi) GROUP BY person_key
)
SELECT r.record_key, r.school_code, r.file_sha, r.row_no,
       '同一人有 ' || CAST(d.n AS TEXT) || ' 条在读学籍（学校标识码：' || d.school_list || '）' AS detail
FROM reg r JOIN dup d ON d.person_key = r.person_key
