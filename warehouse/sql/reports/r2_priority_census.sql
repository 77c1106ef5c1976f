OR EXISTS (SELECT 1 FROM staged.census_current c WHERE c.id_number = q.person_key AND c.{flag})
