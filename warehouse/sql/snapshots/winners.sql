-- snapshots/winners: per scope, the files of its newest applied snapshot dated up to the period (all of them: the
-- newest of all); a scope without any snapshot dated that early keeps its OLDEST snapshot (the nearest there is)
-- rather than vanishing from the period. Columns scope_code, file_sha.
-- Part upto (query): snapshots/newest_date_files of the applied snapshots dated up to the period (or of all).
-- Part oldest (query): snapshots/newest_date_files (pick min) of all applied snapshots.
SELECT w.scope_code, w.file_sha FROM ({upto}) w
UNION ALL
SELECT o.scope_code, o.file_sha FROM ({oldest}) o
WHERE o.scope_code NOT IN (SELECT u.scope_code FROM ({upto}) u)
