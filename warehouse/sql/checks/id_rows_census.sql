-- checks/id_rows_census: DQ01/DQ02 rows of the census: every current record with an ID number, with the birth date
-- and gender it states (DQ02 compares them with the ID).
SELECT t.id_number AS record_key, CAST(NULL AS TEXT) AS school_code, t.file_sha, t.row_no,
       t.id_number, t.birth_date, t.gender
FROM staged.census_current t WHERE t.id_number IS NOT NULL
