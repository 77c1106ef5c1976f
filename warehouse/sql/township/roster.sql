-- township/roster -> derived.township_roster: the rows of the roster rule of one township (pipelines/township.py).
-- Bind parameters: those of rules/roster, and township.
-- Part roster_query (query): rules/roster.
SELECT * FROM ({roster_query}) r WHERE r.township_code = :township
