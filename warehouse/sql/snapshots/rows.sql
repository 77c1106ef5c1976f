-- snapshots/rows: the staged rows of the winning snapshots with the columns of the current table (staged columns,
-- person_key, ingested_at, scope_code). A row's scope is its school (township), else its file's first scope; the
-- scope is computed first, so that (file, scope) is one equi-join key: joined on the file alone, each row would meet
-- every scope of its file (a file holds a whole district's schools).
-- Part columns (identifiers): the source's staged columns on s (warehouse.layout.staged_columns).
-- Part src (name): the source, registry or census (warehouse.views.SNAPSHOT_VIEWS).
-- Part person_key (expression): the source's key on s.
-- Part scope_column (name): school_code (registry) or township_code (census).
-- Part home_scopes (query): snapshots/home_scopes of the source.
-- Part winners (query): scope_code, file_sha of the winning snapshots.
SELECT {columns}, {person_key} AS person_key, f.ingested_at, s.scope_code
FROM (
    SELECT s.*, coalesce(s.{scope_column}, h.home) AS scope_code FROM staged.{src} s
    JOIN ({home_scopes}) h ON h.file_sha = s.file_sha
    WHERE {person_key} IS NOT NULL
) s
JOIN ({winners}) w ON w.file_sha = s.file_sha AND w.scope_code = s.scope_code
JOIN raw.files f ON f.file_sha = s.file_sha AND f.source = '{src}' AND f.status = 'ingested'
