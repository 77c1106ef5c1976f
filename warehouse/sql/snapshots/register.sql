-- snapshots/register: the snapshot rows of the dated files, one per scope a file holds, with its record count; a
-- file without any school (township) code is one scope of its own ('~', warehouse.views.NO_SCOPE), otherwise rows
-- without one belong to the file's first scope.
-- Part src (name): the source, registry or census (warehouse.views.SNAPSHOT_VIEWS).
-- Part person_key (expression): the source's key on s (rows without one are not records).
-- Part scope_column (name): school_code (registry) or township_code (census).
-- Part dated_files (query): file_sha, d (snapshot date), origin, delivery (delivery key) and status of the files.
INSERT INTO raw.snapshots (file_sha, source, scope_code, snapshot_date, date_origin, record_count, status,
                           delivery_key)
SELECT d.file_sha, '{src}', coalesce(c.scope_code, '~'), d.d, d.origin, coalesce(c.n, 0), d.status, d.delivery
FROM ({dated_files}) d LEFT JOIN (
    SELECT s.file_sha, s.{scope_column} AS scope_code, count(*) AS n FROM staged.{src} s
    WHERE s.file_sha IN (SELECT file_sha FROM ({dated_files}) x) AND {person_key} IS NOT NULL
    GROUP BY s.file_sha, s.{scope_column}
) c ON c.file_sha = d.file_sha
WHERE c.scope_code IS NOT NULL OR NOT EXISTS (
    SELECT 1 FROM (
        SELECT s.file_sha, s.{scope_column} AS scope_code, count(*) AS n FROM staged.{src} s
        WHERE s.file_sha IN (SELECT file_sha FROM ({dated_files}) x) AND {person_key} IS NOT NULL
        GROUP BY s.file_sha, s.{scope_column}
    ) c2 WHERE c2.file_sha = d.file_sha AND c2.scope_code IS NOT NULL)
