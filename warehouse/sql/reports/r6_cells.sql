-- reports/r6_cells: R6 送教上门情况表, every home-taught child of the month under its school (else township),
-- and whether the standard was met (reports.cells).
-- Bind parameters: period, report.
SELECT :period, :report, coalesce(school_code, 'township:' || coalesce(township_code, 'unknown')),
       'home_taught', id_number FROM derived.home_teaching_compliance WHERE period = :period
UNION ALL
SELECT :period, :report, coalesce(school_code, 'township:' || coalesce(township_code, 'unknown')),
       CASE WHEN compliant THEN 'compliant' ELSE 'non_compliant' END, id_number
FROM derived.home_teaching_compliance WHERE period = :period
