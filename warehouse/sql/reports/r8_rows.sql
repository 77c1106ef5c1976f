-- reports/r8_rows: R8, every registry change of the period with its school, township, the child's name and
-- the files (and rows) of the old and new records.
-- Bind parameters: p (the period).
SELECT c.*, s.school_name, s.township_code AS ref_township, t.township_name, t.district_code,
       coalesce(rn.name, ro.name) AS name, fo.original_name AS old_file, fn.original_name AS new_file
FROM derived.registry_changes c
LEFT JOIN staged.schools s ON s.school_code = c.school_code
LEFT JOIN staged.townships t ON t.township_code = coalesce(s.township_code, c.township_code)
LEFT JOIN staged.registry rn ON rn.file_sha = c.new_file_sha AND rn.row_no = c.new_row_no
                             AND rn.school_code IS NOT DISTINCT FROM c.school_code
LEFT JOIN staged.registry ro ON ro.file_sha = c.old_file_sha AND ro.row_no = c.old_row_no
                             AND ro.school_code IS NOT DISTINCT FROM c.school_code
LEFT JOIN raw.files fo ON fo.file_sha = c.old_file_sha
LEFT JOIN raw.files fn ON fn.file_sha = c.new_file_sha
WHERE c.period = :p
ORDER BY c.school_code, c.new_snapshot_date, c.person_key
