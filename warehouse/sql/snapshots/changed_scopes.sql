-- snapshots/changed_scopes: the scopes whose winning files differ from those the current table holds
-- (staged.current_scopes): only they are deleted and re-inserted.
-- Part view (name): the current table (its rows of staged.current_scopes).
-- Part winners_table (name): the temporary table of the winners (scope_code, file_sha).
SELECT DISTINCT scope_code FROM (
    SELECT scope_code, file_sha FROM {winners_table}
    EXCEPT SELECT scope_code, file_sha FROM staged.current_scopes WHERE view_name = '{view}') a
UNION
SELECT DISTINCT scope_code FROM (
    SELECT scope_code, file_sha FROM staged.current_scopes WHERE view_name = '{view}'
    EXCEPT SELECT scope_code, file_sha FROM {winners_table}) b
