-- ingest/insert_staged: the rows of one CSV file into its staged table, in file order, each value taken from the
-- normalised distinct values of its cells (kc_map_<n>, joined on the cells), dropped total/note/blank lines left
-- out. One write of each row.
-- Part staged (relation): the staged table, staged.attendance.
-- Part columns (expression): its columns, in table order.
-- Part values (expression): one value per column: the file hash and row number, the joined maps' values, the
-- row error of an ID stored as a number.
-- Part cells_joined (relation): kc_csv_cells AS t LEFT JOIN kc_map_0 AS m0 ON t.c2 IS NOT DISTINCT FROM m0.k0 ...
INSERT INTO {staged} ({columns})
SELECT {values}
FROM {cells_joined}
WHERE NOT EXISTS (SELECT 1 FROM kc_dropped AS d WHERE d.rid = t.rowid)
ORDER BY t.rowid
