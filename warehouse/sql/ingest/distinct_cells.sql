-- ingest/distinct_cells: the distinct tuples of the cells that feed one group of staged columns (normalised once
-- each in Python by kongchuo.normalize, then joined back to the rows).
-- Part key_cells (expression): t.c3 AS k0, t.c5 AS k1, ...
SELECT DISTINCT {key_cells}
FROM kc_csv_cells AS t
