-- checks/row_count: DQ09's row count of a snapshot source for the period: its current table.
-- Part current (relation): the source's current table (checks.rules.CURRENT: staged.registry_current or
-- staged.census_current).
SELECT count(*) FROM {current}
