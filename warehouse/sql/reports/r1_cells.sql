-- reports/r1_cells: R1 控辍保学月报, one row per (school or township row, column, case) of reports.cells; a
-- case's row is its school, else its township's out-of-school row.
-- Bind parameters: period, report, start, end.
-- Part cases (query): the ledger state of every case at the month's end (assets.ledger.state_as_of_sql).
-- Part first_rule (expression): the first rule (RULE_ORDER) a suspected child's rules list names.
WITH sd AS (SELECT * FROM derived.suspected_dropouts WHERE period = :period),
person_school AS (SELECT person_key, min(school_code) AS school_code FROM derived.roster
                  WHERE period = :period GROUP BY person_key),
attempts AS (
    SELECT c.id_number, c.attempt_date, c.result, coalesce(sd.school_code, ps.school_code, 'unknown') AS school_code
    FROM staged.casework c
    LEFT JOIN sd ON sd.person_key = c.id_number
    LEFT JOIN person_school ps ON ps.person_key = c.id_number
    WHERE c.attempt_date BETWEEN :start AND :end
),
cases AS ({cases})
SELECT :period, :report, school_code, 'enrolled', coalesce(student_no, id_number) FROM derived.roster
    WHERE period = :period AND status = 'active'
UNION ALL SELECT :period, :report, school_code, 'suspected', person_key FROM sd
UNION ALL SELECT :period, :report, school_code, {first_rule}, person_key FROM sd WHERE {first_rule} IS NOT NULL
UNION ALL SELECT :period, :report, coalesce(school_code, 'township:' || township_code, 'unknown'), state, person_key
    FROM cases WHERE state IN ('confirmed', 'persuading', 'escalated')
UNION ALL SELECT :period, :report, school_code, 'attempts', id_number || '@' || CAST(attempt_date AS TEXT)
    FROM attempts
UNION ALL SELECT DISTINCT :period, :report, school_code, 'returned', id_number FROM attempts
    WHERE result = 'returned'
UNION ALL SELECT :period, :report, 'township:' || township_code, 'out_of_school', id_number
    FROM derived.out_of_school WHERE period = :period AND NOT verify_elsewhere
UNION ALL SELECT :period, :report, 'township:' || township_code, 'verify_elsewhere', id_number
    FROM derived.out_of_school WHERE period = :period AND verify_elsewhere
