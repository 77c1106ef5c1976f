-- checks/latest_run_findings: the findings of the latest evaluation of each (check, source) of the period.
-- Bind parameters: p.
-- Part check_ids (expression): the check ids, as a list of SQL string literals ('DQ04', 'DQ05').
WITH latest AS (
    SELECT check_id, source, run_id,
           row_number() OVER (PARTITION BY check_id, source ORDER BY checked_at DESC, run_id DESC) AS rn
    FROM checks.evaluations WHERE period = :p AND check_id IN ({check_ids})
)
SELECT f.* FROM checks.findings f
JOIN latest l ON l.rn = 1 AND l.run_id = f.run_id AND l.check_id = f.check_id AND l.source = f.source
WHERE f.period = :p
