-- current/staged_rows: the staged rows of one source's ingested files, each with its person_key and its file's
-- ingested_at (the columns of a current table); rows without a key are left out (the DQ03 check reports them).
-- Part columns (identifiers): the source's staged columns on s (warehouse.layout.staged_columns).
-- Part src (name): the source, one of warehouse.views.CURRENT_VIEWS: its staged table and its raw.files.source.
-- Part person_key (expression): the source's key on s (warehouse.views.CURRENT_VIEWS).
-- Part view (name): the current table (staged.registry_current ...), whose merged files staged.current_files lists.
-- Part all_files (condition): TRUE for every file, FALSE for the files not merged into the current table yet.
SELECT {columns}, {person_key} AS person_key, f.ingested_at
FROM staged.{src} s
JOIN raw.files f ON f.file_sha = s.file_sha AND f.source = '{src}' AND f.status = 'ingested'
    AND ({all_files} OR f.file_sha NOT IN (SELECT c.file_sha FROM staged.current_files c WHERE c.view_name = '{view}'))
WHERE {person_key} IS NOT NULL
