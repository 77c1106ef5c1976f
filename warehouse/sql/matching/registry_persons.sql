-- matching/registry_persons: staged.registry_current records, each with record_key (student number, else ID),
-- person_key (the matching rule: DESIGN.md "Matching a child") and age_birth_date (the birth date school age is
-- taken from).
-- Part columns (identifiers): the staged registry columns on t (warehouse.layout.staged_columns).
-- Part person_key (expression): a registry record's person (warehouse.views.registry_person_key_sql on t).
-- Part age_birth_date (expression): its birth date for school age (warehouse.views.registry_birth_sql on t).
-- Part records (condition): which records, on t (TRUE: all; t.status = 'active' ...).
SELECT {columns}, coalesce(t.student_no, t.id_number) AS record_key,
       {person_key} AS person_key, {age_birth_date} AS age_birth_date
FROM staged.registry_current t WHERE {records}
