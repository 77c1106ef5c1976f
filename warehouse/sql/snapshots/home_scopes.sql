-- snapshots/home_scopes: each registered snapshot file's first scope (home), which its records without a school
-- (township) code belong to.
-- Part src (name): the source, registry or census.
SELECT file_sha, min(scope_code) AS home FROM raw.snapshots WHERE source = '{src}' GROUP BY file_sha
