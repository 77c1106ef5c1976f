-- reports/r2_priority: one R2 priority group, the quarter's suspected children (the qs CTE of r2_cells) whose
-- registry record carries the flag, or whose census record does (census).
-- Bind parameters: period, report.
-- Part key (literal): the group's column key (kongchuo.reports_catalog.R2_PRIORITY_FLAGS).
-- Part flag (identifier): the staged flag column.
-- Part person_key (expression): the person of a registry row aliased r (warehouse.views).
-- Part census (query): r2_priority_census.sql for the flags the census carries, else no row.
SELECT :period, :report, 'township:' || coalesce(q.township_code, 'unknown'), '{key}', q.person_key
FROM qs q WHERE EXISTS (SELECT 1 FROM staged.registry_current r
                        WHERE {person_key} = q.person_key AND r.{flag}) OR EXISTS ({census})
