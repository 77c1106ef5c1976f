-- current/winners: per key, the row of the most recently ingested file, then the last row (highest row_no), among
-- the competing rows. Only keys that occur more than once need the window: finding them is a hash aggregate, and
-- the unique rest is copied as is. "rn < 2", not "= 1": PostgreSQL guesses 0.5 % of rows for "=" on a window
-- column and plans nested loops. k is NOT MATERIALIZED and dup is joined, not correlated: DuckDB materialises a CTE
-- used more than once and flattens a correlated EXISTS on expressions into a delim join that materialises k again,
-- so a province registry (15M wide rows) spilled 17 GB to disk; re-reading the rows and two hash joins do not.
-- Part rows (query): the competing rows, with a current table's columns.
-- Part key_columns (identifiers): person_key and the current table's extra key columns (warehouse.views).
-- Part partition_columns (identifiers): the same on k.
-- Part same_key (condition): key equality of d and k, NULL extra columns equal as in GROUP BY.
-- Part winner_columns (identifiers): the staged columns, then the tail columns, on w.
WITH k AS NOT MATERIALIZED ({rows}),
dup AS (SELECT {key_columns} FROM k GROUP BY {key_columns} HAVING count(*) > 1)
SELECT k.* FROM k LEFT JOIN dup d ON {same_key} WHERE d.person_key IS NULL
UNION ALL
SELECT {winner_columns}
FROM (
    SELECT k.*, row_number() OVER (PARTITION BY {partition_columns}
                                   ORDER BY k.ingested_at DESC, k.file_sha DESC, k.row_no DESC) AS rn
    FROM k JOIN dup d ON {same_key}
) w
WHERE w.rn < 2
