-- reports/r8_cells: R8 学籍异动梳理, each registry change of the term under its school: once under its kind, once
-- under 异动合计 (changes) and once under 需核实 (needs_review) or 一致 (consistent) (reports.cells).
-- Bind parameters: period, report.
SELECT :period, :report, c.school_code,
       CASE x.column_key WHEN 'kind' THEN c.kind WHEN 'changes' THEN 'changes'
            ELSE CASE WHEN c.needs_review THEN 'needs_review' ELSE 'consistent' END END,
       c.person_key || '|' || c.kind || '|' || CAST(c.new_snapshot_date AS TEXT)
FROM derived.registry_changes c
CROSS JOIN (SELECT 'kind' AS column_key UNION ALL SELECT 'changes' UNION ALL SELECT 'review') x
WHERE c.period = :period
