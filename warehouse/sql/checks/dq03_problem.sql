-- checks/dq03_problem: the rows of scope (checks/dq03) with one problem of one column, each with a detail that names
-- file, sheet, row and column (and the raw value, except for columns that may identify a child).
-- Bind parameters: source.
-- Part record_key (expression): the source's record key on t (checks.rules.RECORD_KEY).
-- Part school (expression): t.school_code, or a NULL text for a source without schools (census).
-- Part message (text): 列「label」(column): the problem in Chinese and its code, from kongchuo.sources.
-- Part shown (expression): the raw value in brackets, or '' for a column that may identify a child.
-- Part column_name (text): the column (or columns a|b) with the problem.
-- Part condition (condition): the problem on t, from the column specification (checks.rules.dq03_problems).
SELECT {record_key} AS record_key, {school} AS school_code, t.file_sha, t.row_no,
       '文件 ' || coalesce(f.original_name, t.file_sha) || coalesce(' 工作表「' || t.sheet || '」', '')
       || ' 第' || CAST(t.row_no AS TEXT) || '行 {message}' || {shown} AS detail, '{column_name}' AS col
FROM scope t LEFT JOIN raw.files f ON f.file_sha = t.file_sha AND f.source = :source
WHERE {condition}
