-- checks/scope_census: the rows a census check looks at: the current census, plus the rows of its files that have
-- no key at all (no ID number: staged.census_current leaves them out).
-- Part columns (identifiers): the staged census columns (warehouse.layout.staged_columns).
SELECT {columns} FROM staged.census_current
UNION ALL SELECT {columns} FROM staged.census s
WHERE s.id_number IS NULL
  AND s.file_sha IN (SELECT DISTINCT file_sha FROM staged.census_current)
