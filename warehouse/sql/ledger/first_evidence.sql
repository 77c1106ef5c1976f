-- ledger/first_evidence: the first day with dated evidence of attendance or persuasion up to end: where a ledger's
-- history starts.
-- Bind parameters: end.
SELECT min(d) FROM (
    SELECT min(date) AS d FROM staged.attendance_current WHERE date <= :end
    UNION ALL SELECT min(attempt_date) FROM staged.casework WHERE attempt_date <= :end
) x
