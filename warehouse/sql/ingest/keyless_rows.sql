-- ingest/keyless_rows: records without an ASCII digit in their ID and student number cells: the only rows that
-- may be total, note or blank lines (kongchuo.fastcsv.keyless_drops decides each one, as the pandas path does).
-- Bind parameters: first_row (row number of rowid 0), limit.
-- Part no_key (condition): the ID and student number cells hold no digit.
SELECT t.rowid AS rid, t.rowid + :first_row AS row_no, t.*
FROM kc_csv_cells AS t
WHERE {no_key}
ORDER BY t.rowid
LIMIT :limit
