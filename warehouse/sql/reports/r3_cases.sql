-- reports/r3_cases: R3, each open case with its county; a case whose township is unknown belongs to the run's
-- district (the fallback parameter).
-- Bind parameters: period, fallback.
-- Part open_cases (query): r3_open_cases.sql.
SELECT o.*, coalesce(t.district_code, :fallback) AS county
FROM ({open_cases}) o LEFT JOIN staged.townships t ON t.township_code = o.township_code
