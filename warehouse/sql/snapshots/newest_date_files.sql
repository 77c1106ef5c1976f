-- snapshots/newest_date_files: per scope, the files of its newest snapshot date (pick min: its oldest). A snapshot
-- may come as several files (split by rows, one school in two files), and a file re-sent under the same delivery
-- name supersedes the earlier one.
-- Part candidates (query): snapshots/candidates.
-- Part pick (name): max or min.
WITH c AS ({candidates}),
top AS (SELECT scope_code, {pick}(snapshot_date) AS d FROM c GROUP BY scope_code)
SELECT c.* FROM c JOIN top t ON t.scope_code = c.scope_code AND t.d = c.snapshot_date
WHERE NOT EXISTS (SELECT 1 FROM c c2 WHERE c2.scope_code = c.scope_code
                  AND c2.snapshot_date = c.snapshot_date AND c2.delivery_key = c.delivery_key
                  AND (c2.ingested_at > c.ingested_at
                       OR (c2.ingested_at = c.ingested_at AND c2.file_sha > c.file_sha)))
