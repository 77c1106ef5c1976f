-- current/delete_competing: the current rows of the keys the new rows carry (their winner is inserted again).
-- Part view (name): the current table.
-- Part new_rows (name): the temporary table of the new rows.
-- Part same_key (condition): key equality of t and n, NULL extra columns equal.
DELETE FROM {view} t WHERE EXISTS (SELECT 1 FROM {new_rows} n WHERE {same_key})
