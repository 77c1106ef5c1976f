-- current/competing: the rows that compete in an incremental refresh: the current rows of the keys the new rows
-- carry, and the new rows.
-- Part view (name): the current table.
-- Part new_rows (name): the temporary table of the new rows.
-- Part same_key (condition): key equality of t and n, NULL extra columns equal.
SELECT t.* FROM {view} t WHERE EXISTS (SELECT 1 FROM {new_rows} n WHERE {same_key})
UNION ALL SELECT * FROM {new_rows}
