-- checks/id_rows_home_teaching: DQ01 rows of the home-teaching visits of the period (or undated), in ingested files.
-- Bind parameters: start, end.
SELECT t.id_number AS record_key, CAST(NULL AS TEXT) AS school_code, t.file_sha, t.row_no,
       t.id_number, CAST(NULL AS DATE) AS birth_date, CAST(NULL AS TEXT) AS gender
FROM staged.home_teaching t JOIN raw.files f ON f.file_sha = t.file_sha AND f.status = 'ingested'
WHERE t.id_number IS NOT NULL AND (t.visit_date IS NULL OR t.visit_date BETWEEN :start AND :end)
