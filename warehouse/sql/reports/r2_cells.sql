-- reports/r2_cells: R2 控辍保学排查整改工作情况统计表, one row per (township, column, child) of reports.cells.
-- Bind parameters: period, report, start, end.
-- Part people (query): the township counts shared with derived.township_rates (assets.quarterly).
-- Part first_records (query): matching/first_records of the children with persuasion attempts (persons: p.person_key
-- IN tries or all_tries): the record each is filed under, for their township and stage.
-- Part priority (query): the priority-group rows, r2_priority.sql once per group, UNION ALL.
WITH people AS ({people}),
qs AS (SELECT DISTINCT person_key, township_code, stage FROM derived.quarterly_suspected WHERE period = :period),
tries AS (
    SELECT id_number, sum(CASE WHEN result = 'returned' THEN 1 ELSE 0 END) AS returned,
           count(*) AS attempts
    FROM (SELECT DISTINCT id_number, attempt_date, method, unit, result FROM staged.casework
          WHERE attempt_date BETWEEN :start AND :end AND id_number IS NOT NULL) c
    GROUP BY id_number
),
all_tries AS (  -- the ledger's escalation rule: >= 3 attempts 未返校 up to the cut-off, the latest 未返校
    SELECT id_number, sum(CASE WHEN result = 'returned' THEN 0 ELSE 1 END) AS failed,
           max(CASE WHEN result = 'returned' THEN attempt_date END) AS last_returned,
           max(CASE WHEN result = 'returned' THEN NULL ELSE attempt_date END) AS last_failed
    FROM (SELECT DISTINCT id_number, attempt_date, method, unit, result FROM staged.casework
          WHERE attempt_date <= :end AND id_number IS NOT NULL AND result IS NOT NULL) c
    GROUP BY id_number
),
reg AS (
    SELECT f.person_key, f.school_township_code AS township_code,
           CASE WHEN s.stage = '小学' THEN '小学' WHEN s.stage = '初中' THEN '初中'
                WHEN f.grade <= 6 THEN '小学' ELSE '初中' END AS stage
    FROM ({first_records}) f LEFT JOIN staged.schools s ON s.school_code = f.school_code
)
SELECT :period, :report, 'township:' || coalesce(township_code, 'unknown'), measure, person FROM people
UNION ALL SELECT :period, :report, 'township:' || coalesce(township_code, 'unknown'),
                 CASE WHEN stage = '小学' THEN 'suspected_primary' ELSE 'suspected_junior' END, person_key FROM qs
UNION ALL SELECT * FROM ({priority}) pr
UNION ALL SELECT :period, :report, 'township:' || coalesce(r.township_code, 'unknown'),
                 CASE WHEN r.stage = '小学' THEN 'returned_primary' ELSE 'returned_junior' END, t.id_number
    FROM tries t JOIN reg r ON r.person_key = t.id_number WHERE t.returned > 0
UNION ALL SELECT :period, :report, 'township:' || coalesce(r.township_code, 'unknown'), 'escalated', t.id_number
    FROM all_tries t LEFT JOIN reg r ON r.person_key = t.id_number
    WHERE t.failed >= 3 AND (t.last_returned IS NULL OR t.last_failed >= t.last_returned)
