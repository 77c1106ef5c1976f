-- ingest/read_cells: the data records of one CSV file as text cells in the temporary table kc_csv_cells, in file
-- order (preserve_insertion_order), so rowid + first data row is the row number people see. Strict: a record with
-- more or fewer fields than the header, or a quote out of place, is a DuckDB error and the file goes the pandas
-- path (kongchuo.fastcsv says when the two readers agree).
-- No new_line option: DuckDB 2.0.1 finds the line ending itself, and with new_line set together with skip it
-- returned no rows for CRLF files. ingest/cell_lengths counts the lines read, so a silent skip would be caught.
-- Bind parameters: path, skip (records above the data), delim.
-- Part columns (expression): read_csv's columns, {'c0': 'VARCHAR', 'c1': 'VARCHAR', ...}, one per header field.
-- Part cells (expression): every cell, NULL when it holds whitespace only (Python's str.strip), as c0, c1, ...
CREATE TEMP TABLE kc_csv_cells AS
SELECT {cells}
FROM read_csv(
    :path, columns = {columns}, header = false, skip = :skip, delim = :delim, quote = '"', escape = '"',
    all_varchar = true, auto_detect = false, strict_mode = true
)
