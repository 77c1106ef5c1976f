-- rules/suspected_dropouts -> derived.suspected_dropouts: 疑似辍学, one row per child with every SD rule that fired
-- (SD1-SD6), after the exclusions in force on the cut-off (exemption, home teaching, deceased, graduated from
-- grade 9, aged max_age or more). Rules: the docstring of assets/rules.py (DESIGN.md).
-- Bind parameters: period, end, ref_date, consecutive_days, monthly_days, transfer_grace_days, max_age,
-- absence_only, sd2_evaluate, sd6_evaluate.
-- Part roster (relation): the roster rows of the period: derived.roster, or the ledger's work table, or a CTE
-- holding rules/roster (quarterly).
-- Part age_on_end (expression): assets.rules.age_sql of birth_date on the cut-off end.
WITH ro AS (SELECT * FROM {roster} WHERE period = :period),
person AS (  -- presence at any school is the person's: the rules look at the person's rows together
    SELECT person_key,
           max(CASE WHEN status = 'active' THEN 1 ELSE 0 END) AS has_active,
           sum(attendance_days) AS attendance_days, sum(unexcused_days) AS unexcused_days,
           max(max_unexcused_run) AS max_unexcused_run, sum(coalesce(term_days_present, 0)) AS term_days_present,
           max(transfer_date) AS transfer_date  -- the person's latest transfer out
    FROM ro GROUP BY person_key
),
fired AS (
    SELECT ro.person_key, ro.school_code, 'SD1' AS rule FROM ro JOIN person p ON p.person_key = ro.person_key
        WHERE (p.max_unexcused_run >= :consecutive_days OR p.unexcused_days >= :monthly_days)
          AND (ro.status = 'active' OR p.has_active = 0)
    UNION ALL
    SELECT ro.person_key, ro.school_code, 'SD2' FROM ro JOIN person p ON p.person_key = ro.person_key
        WHERE :sd2_evaluate = 1 AND ro.status = 'active' AND p.term_days_present = 0
    UNION ALL
    SELECT ro.person_key, ro.school_code, 'SD3' FROM ro JOIN person p ON p.person_key = ro.person_key
        WHERE ro.status = 'transferred_out' AND p.has_active = 0
          AND CAST(:end AS DATE) - p.transfer_date > :transfer_grace_days
    UNION ALL
    SELECT person_key, school_code, 'SD4' FROM ro WHERE status = 'dropped_out'
    UNION ALL
    SELECT ro.person_key, ro.school_code, 'SD5' FROM ro JOIN person p ON p.person_key = ro.person_key
        WHERE ro.status = 'active' AND p.attendance_days = 0 AND :absence_only = 0
    UNION ALL
    SELECT ro.person_key, ro.school_code, 'SD6' FROM ro JOIN person p ON p.person_key = ro.person_key
        WHERE :sd6_evaluate = 1 AND ro.status = 'graduated' AND ro.grade = 6 AND p.has_active = 0
),
kept AS (
    SELECT f.* FROM fired f
    WHERE NOT EXISTS (SELECT 1 FROM (  -- excluded in the period, with the reason (in force = on the cut-off)
            SELECT DISTINCT id_number AS person_key, 'exemption' AS reason FROM staged.exemptions
                WHERE approved_on <= :end AND valid_until >= :end AND id_number IS NOT NULL
            UNION SELECT DISTINCT id_number, 'home_teaching' FROM staged.home_teaching
                WHERE visit_date > CAST(:ref_date AS DATE) AND visit_date <= :end AND id_number IS NOT NULL
            UNION SELECT DISTINCT person_key, 'deceased' FROM {roster} WHERE period = :period AND status = 'deceased'
            UNION SELECT DISTINCT id_number, 'deceased' FROM staged.census_current WHERE residence_status = 'deceased'
            UNION SELECT DISTINCT person_key, 'graduated' FROM {roster}
                WHERE period = :period AND status = 'graduated' AND grade = 9
            UNION SELECT DISTINCT person_key, 'over_age' FROM {roster}
                WHERE period = :period AND birth_date IS NOT NULL AND {age_on_end} >= :max_age
    ) e WHERE e.person_key = f.person_key)
),
home AS (  -- the record the case is filed under: the first school (by code) where a rule fired
    SELECT person_key, min(school_code) AS school_code FROM kept GROUP BY person_key
),
rule_list AS (  -- every rule that fired (R1's breakdown picks the first in its own order)
    SELECT person_key, string_agg(DISTINCT rule, ',' ORDER BY rule) AS rules FROM kept GROUP BY person_key
)
SELECT :period AS period, max(ro.id_number) AS id_number, max(ro.student_no) AS student_no, k.person_key,
       h.school_code, max(ro.township_code) AS township_code, max(ro.grade) AS grade, max(k.rules) AS rules
FROM rule_list k
JOIN home h ON h.person_key = k.person_key
JOIN ro ON ro.person_key = k.person_key AND ro.school_code IS NOT DISTINCT FROM h.school_code
GROUP BY k.person_key, h.school_code
