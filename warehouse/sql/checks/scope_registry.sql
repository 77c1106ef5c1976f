-- checks/scope_registry: the rows a registry check looks at: the current registry, plus the rows of its files that
-- have no key at all (no ID number and no student number: staged.registry_current leaves them out).
-- Part columns (identifiers): the staged registry columns (warehouse.layout.staged_columns).
SELECT {columns} FROM staged.registry_current
UNION ALL SELECT {columns} FROM staged.registry s
WHERE coalesce(s.id_number, s.student_no) IS NULL
  AND s.file_sha IN (SELECT DISTINCT file_sha FROM staged.registry_current)
