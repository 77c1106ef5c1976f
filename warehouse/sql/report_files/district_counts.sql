-- report_files/district_counts: current registry records per district (county) code, most first: which region a
-- run reports on (assets.report_files.current_district).
SELECT t.district_code AS code, count(*) AS n FROM staged.registry_current r
JOIN staged.schools s ON s.school_code = r.school_code
JOIN staged.townships t ON t.township_code = s.township_code
GROUP BY t.district_code ORDER BY count(*) DESC, t.district_code
