-- reports/r4_reason: R4, the dropout reason and persuading unit of each escalated child, from the casework.
-- Bind parameters: period, end.
-- Part escalated (query): r4_escalated.sql.
WITH esc AS ({escalated})
SELECT c.id_number AS person_key, min(c.dropout_reason) AS dropout_reason, min(c.unit) AS unit
FROM staged.casework c JOIN esc e ON e.person_key = c.id_number
WHERE c.attempt_date <= :end AND c.dropout_reason IS NOT NULL
GROUP BY c.id_number
