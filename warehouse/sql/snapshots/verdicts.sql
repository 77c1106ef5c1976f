-- snapshots/verdicts: per scope and snapshot date of a new (or held) snapshot, its record count (every file of
-- the scope's new date together) and the record count of the newest applied date before it (previous).
-- Part src (name): the source, registry or census.
-- Part everything (query): snapshots/candidates with new and held snapshots.
-- Part applied (query): snapshots/candidates, applied and confirmed only.
WITH g AS (SELECT scope_code, snapshot_date, sum(record_count) AS n FROM ({everything}) c
           WHERE EXISTS (SELECT 1 FROM raw.snapshots x WHERE x.source = '{src}'
                         AND x.status IN ('new', 'held') AND x.scope_code = c.scope_code
                         AND x.snapshot_date = c.snapshot_date)
           GROUP BY scope_code, snapshot_date),
a AS (SELECT scope_code, snapshot_date, sum(record_count) AS n FROM ({applied}) c
      GROUP BY scope_code, snapshot_date)
SELECT g.scope_code, g.snapshot_date, g.n AS now_count,
       (SELECT a.n FROM a WHERE a.scope_code = g.scope_code AND a.snapshot_date < g.snapshot_date
        ORDER BY a.snapshot_date DESC LIMIT 1) AS previous
FROM g
