-- reports/r8_schools: R8, the schools with a registry this term (a school without any change is listed with
-- zeros in the summaries).
SELECT DISTINCT r.school_code, s.school_name, s.township_code, t.township_name
FROM staged.registry_current r
LEFT JOIN staged.schools s ON s.school_code = r.school_code
LEFT JOIN staged.townships t ON t.township_code = s.township_code
WHERE r.school_code IS NOT NULL
