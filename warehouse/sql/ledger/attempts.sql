-- ledger/attempts: the period's persuasion attempts per child (de-duplicated across files).
-- Bind parameters: start, end.
SELECT id_number AS person_key, attempt_date, method, unit, result, dropout_reason, min(file_sha) AS file_sha
FROM staged.casework
WHERE attempt_date BETWEEN :start AND :end AND id_number IS NOT NULL AND result IS NOT NULL
GROUP BY id_number, attempt_date, method, unit, result, dropout_reason
