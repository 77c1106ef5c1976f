-- reports/r3_cells: R3 一生一表, every case open at the month's end under its school (reports.cells).
-- Bind parameters: period, report.
-- Part open_cases (query): r3_open_cases.sql.
SELECT :period, :report, coalesce(school_code, 'unknown'), 'open_cases', person_key
FROM ({open_cases}) o
