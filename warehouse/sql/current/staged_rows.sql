-- current/staged_rows: the staged rows of one source's ingested files, each with its person_key and its file's
-- ingested_at (the columns of a current table); rows without a key are left out (the DQ03 check reports them).
-- Part columns (identifiers): the source's staged columns on s (warehouse.layout.staged_columns).
-- Part src (name): the source, one of warehouse.views.CURRENT_VIEWS: its staged table and its raw.files.source.
-- Part person_key (expression): the source's key on s (warehouse.views.CURRENT_VIEWS).
-- Part files (relation): raw.files, or (current/unmerged_files) for the files not merged into the table yet.
SELECT {columns}, {person_key} AS person_key, f.ingested_at
FROM staged.{src} s
JOIN {files} f ON f.file_sha = s.file_sha AND f.source = '{src}' AND f.status = 'ingested'
WHERE {person_key} IS NOT NULL
