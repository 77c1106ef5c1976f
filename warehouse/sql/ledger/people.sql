-- ledger/people: where each candidate is filed: their first registry record (active first, then by school code).
-- Bind parameters: those of ledger/candidates.
-- Part candidates (query): ledger/candidates.
-- Part first_records (query): matching/first_records of the candidates (persons: p.person_key IN cand).
WITH cand AS ({candidates}),
reg AS ({first_records})
SELECT c.person_key, CASE WHEN r.person_key = r.student_no THEN r.id_number ELSE r.person_key END AS id_number,
       r.student_no, r.school_code, r.school_township_code AS township_code
FROM cand c LEFT JOIN reg r ON r.person_key = c.person_key
