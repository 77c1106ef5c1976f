-- daily/insert_warnings: derived.early_warnings of one day (the caller deletes the day's rows first, in the same
-- transaction): each warning with the child's registry ID and student number and the school's township.
-- Only the warned persons' registry records are labelled (not the whole registry grouped by person every day).
-- Bind parameters: day (the partition key), and those of daily/warnings.
-- Part warnings (query): daily/warnings.
-- Part registry_persons (query): warehouse.views.registry_persons_sql() of the records whose ID, student number
-- or G number can be a person key of w (the matching rule takes a person from one of those), e.g.
-- assets.early_warning.maybe_persons("SELECT person_key FROM w").
INSERT INTO derived.early_warnings (period, date, person_key, id_number, student_no, school_code,
                                    township_code, reason, days_absent, first_seen, continuing)
WITH w AS MATERIALIZED ({warnings})
SELECT :day, :day, w.person_key, r.id_number, r.student_no, w.school_code, s.township_code, w.reason,
       w.days_absent, w.first_seen, w.first_seen < :d
FROM w
LEFT JOIN (SELECT person_key, min(id_number) AS id_number, min(student_no) AS student_no
           FROM ({registry_persons}) t WHERE person_key IN (SELECT person_key FROM w)
           GROUP BY person_key) r ON r.person_key = w.person_key
LEFT JOIN staged.schools s ON s.school_code = w.school_code
