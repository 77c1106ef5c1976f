-- current/unmerged_files: the files (raw.files rows) a current table was not built from yet: those staged.current_files
-- does not list for it.
-- Part view (name): the current table (staged.registry_current ...).
SELECT f.* FROM raw.files f
WHERE f.file_sha NOT IN (SELECT c.file_sha FROM staged.current_files c WHERE c.view_name = '{view}')
