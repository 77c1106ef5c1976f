-- reports/r1_schools: the schools of the region R1 lists (a district; for a prefecture or province run every
-- school of its counties), with their township and county.
-- Bind parameters: prefix.
SELECT t.township_code, t.township_name, t.district_code, s.school_code, s.school_name
FROM staged.schools s JOIN staged.townships t ON t.township_code = s.township_code
WHERE t.district_code LIKE :prefix
ORDER BY t.township_code, s.school_code
