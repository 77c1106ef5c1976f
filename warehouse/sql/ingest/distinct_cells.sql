-- ingest/distinct_cells: the distinct tuples of the cells that feed one group of staged columns (normalised once
-- each in Python by kongchuo.normalize, then joined back to the rows).
-- Part keys (expression): t.c3 AS k0, t.c5 AS k1, ...
SELECT DISTINCT {keys}
FROM kc_csv_cells AS t
