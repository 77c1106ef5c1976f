-- ingest/file_dates: the range of a file's main date column (raw.files.min_date/max_date), over its staged rows.
-- Bind parameters: sha.
-- Part staged (relation): the staged table.
-- Part date_column (expression): its main date column.
SELECT min(s.{date_column}) AS min_date, max(s.{date_column}) AS max_date
FROM {staged} AS s
WHERE s.file_sha = :sha
