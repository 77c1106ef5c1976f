-- checks/quarantined: the files of a source quarantined by this run (one finding each, naming the file and why).
-- Bind parameters: source, run_id.
SELECT CAST(NULL AS TEXT) AS record_key, CAST(NULL AS TEXT) AS school_code, file_sha,
       CAST(NULL AS INTEGER) AS row_no,
       '文件 ' || original_name || ' 已隔离：' || coalesce(error, '') AS detail
FROM raw.files WHERE source = :source AND status = 'quarantined' AND run_id = :run_id
