-- quarterly/data_districts: the districts (county codes) the data belongs to: those of the townships of the current
-- registry records (their school's township, else the record's own) and of the census children. The reference data
-- may cover many more (the bundled files hold both seed districts): R2 lists the townships of these districts only.
SELECT DISTINCT t.district_code FROM staged.townships t
WHERE t.township_code IN (
    SELECT coalesce(s.township_code, r.township_code) FROM staged.registry_current r
        LEFT JOIN staged.schools s ON s.school_code = r.school_code
    UNION SELECT c.township_code FROM staged.census_current c)
