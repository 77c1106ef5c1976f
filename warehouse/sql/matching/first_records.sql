-- matching/first_records: the record a person is filed under, one per person: their active record, else any
-- record, the first school by code (the ledger's people, R7's identities; R2 and R3 file persons the same way).
-- With the record's columns (warehouse.views.registry_persons_sql: record_key, person_key, age_birth_date) and
-- school_township_code, the township of the record's school, else the record's own.
-- Part registry_persons (query): warehouse.views.registry_persons_sql(), the current registry records.
-- Part persons (condition): which persons, on the record p (filtered before the window: only they are ranked).
SELECT x.* FROM (
    SELECT p.*, coalesce(s.township_code, p.township_code) AS school_township_code,
           row_number() OVER (PARTITION BY p.person_key
                              ORDER BY CASE WHEN p.status = 'active' THEN 0 ELSE 1 END, p.school_code) AS rn
    FROM ({registry_persons}) p LEFT JOIN staged.schools s ON s.school_code = p.school_code
    WHERE {persons}
) x
WHERE x.rn = 1
