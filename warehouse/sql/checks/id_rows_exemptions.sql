-- checks/id_rows_exemptions: DQ01 rows of the exemptions in force during the period, in ingested files.
-- Bind parameters: start, end.
SELECT t.id_number AS record_key, CAST(NULL AS TEXT) AS school_code, t.file_sha, t.row_no,
       t.id_number, CAST(NULL AS DATE) AS birth_date, CAST(NULL AS TEXT) AS gender
FROM staged.exemptions t JOIN raw.files f ON f.file_sha = t.file_sha AND f.status = 'ingested'
WHERE t.id_number IS NOT NULL AND (t.approved_on IS NULL OR t.approved_on <= :end)
      AND (t.valid_until IS NULL OR t.valid_until >= :start)
