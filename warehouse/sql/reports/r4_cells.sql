-- reports/r4_cells: R4 劝返无效上报名单, every escalated case under its school, and the new ones (reports.cells).
-- Bind parameters: period, report, end.
-- Part escalated (query): r4_escalated.sql.
SELECT :period, :report, coalesce(school_code, 'unknown'), 'escalated', person_key FROM ({escalated}) e
UNION ALL
SELECT :period, :report, coalesce(school_code, 'unknown'), 'new_this_month', person_key
FROM ({escalated}) e WHERE is_new = 1
