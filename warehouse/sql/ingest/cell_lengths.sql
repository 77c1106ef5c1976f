-- ingest/cell_lengths: the record count, the first and last row id and the longest cell (bytes) of each column read
-- from a CSV file.
-- Part lengths (expression): max(strlen(t.c0)) AS c0, ... for the columns the source maps.
SELECT count(*) AS records, min(t.rowid) AS first_rowid, max(t.rowid) AS last_rowid, {lengths}
FROM kc_csv_cells AS t
