-- registry_changes/pairs -> _r8_pairs: consecutive snapshot dates of each scope (the new one in the term under
-- review), with the school year of each (from September).
-- Bind parameters: term_start.
CREATE TEMP TABLE _r8_pairs AS SELECT scope_code, prev_date AS old_date, snapshot_date AS new_date,
           (CASE WHEN EXTRACT(MONTH FROM prev_date) >= 9 THEN EXTRACT(YEAR FROM prev_date) ELSE EXTRACT(YEAR FROM prev_date) - 1 END) AS old_year, (CASE WHEN EXTRACT(MONTH FROM snapshot_date) >= 9 THEN EXTRACT(YEAR FROM snapshot_date) ELSE EXTRACT(YEAR FROM snapshot_date) - 1 END) AS new_year
    FROM (SELECT scope_code, snapshot_date,
                 lag(snapshot_date) OVER (PARTITION BY scope_code ORDER BY snapshot_date) AS prev_date
          FROM (SELECT DISTINCT scope_code, snapshot_date FROM _r8_snap) d) x
    WHERE prev_date IS NOT NULL AND snapshot_date >= :term_start
