-- R4: the dropout reason and the persuading unit of each escalated child, from the casework up to the cut-off.
WITH esc AS ({escalated})
SELECT c.id_number AS person_key, min(c.dropout_reason) AS dropout_reason, min(c.unit) AS unit
FROM staged.casework c JOIN esc e ON e.person_key = c.id_number
WHERE c.attempt_date <= :end AND c.dropout_reason IS NOT NULL
GROUP BY c.id_number
