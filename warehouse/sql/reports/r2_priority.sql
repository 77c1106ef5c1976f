-- One priority group of R2: the quarter's suspected children (qs) whose registry record, or for the census flags
-- their census record, carries the flag; census_or: '' or the census EXISTS branch (r2_priority_census.sql).
UNION ALL SELECT :period, :report, 'township:' || coalesce(q.township_code, 'unknown'), '{key}', q.person_key
    FROM qs q WHERE EXISTS (SELECT 1 FROM staged.registry_current r
                            WHERE {person_key} = q.person_key AND r.{flag}){census_or}
