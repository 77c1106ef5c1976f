-- ingest/cell_lengths: the record count, the first and last row id, the line breaks inside cells (quoted) and the
-- longest cell (bytes) of each column read from a CSV file: records + breaks inside cells + the records skipped
-- above must be the file's lines, else DuckDB did not read what pandas reads.
-- Bind parameters: line_end (the file's line ending).
-- Part breaks (expression): the line endings inside the cells, strlen(t.c0) - strlen(replace(t.c0, :line_end, '')) + ...
-- Part lengths (expression): max(strlen(t.c0)) AS c0, ... for the columns the source maps.
SELECT count(*) AS records, min(t.rowid) AS first_rowid, max(t.rowid) AS last_rowid,
       coalesce(sum({breaks}), 0) AS breaks, {lengths}
FROM kc_csv_cells AS t
