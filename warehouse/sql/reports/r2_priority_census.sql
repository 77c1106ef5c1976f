-- reports/r2_priority_census: the census record of an R2 priority child (q) carrying the flag.
-- Part flag (identifier): the census flag column.
SELECT 1 FROM staged.census_current c WHERE c.id_number = q.person_key AND c.{flag}
