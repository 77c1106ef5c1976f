-- checks/dq03: DQ03 findings of one source: the rows in scope with a missing required value, an unparseable value
-- or a code outside its value set (checks/dq03_problem, one per problem of the column specification), then the
-- problems the reader found in a row (row_error: its message already names file, sheet, row and column).
-- Part scope (query): checks/scope_<source>.
-- Part problems (query): checks/dq03_problem once per problem of the source (checks.rules.dq03_problems), UNION ALL.
-- Part record_key (expression): the source's record key on t (checks.rules.RECORD_KEY).
-- Part school (expression): t.school_code, or a NULL text for a source without schools (census).
WITH scope AS ({scope})
{problems}
UNION ALL
SELECT {record_key} AS record_key, {school} AS school_code, t.file_sha, t.row_no, t.row_error AS detail,
       'row_error' AS col
FROM scope t WHERE t.row_error IS NOT NULL
