-- quarterly/quarterly_suspected -> derived.quarterly_suspected: the SD rules of one month of the quarter (window
-- clipped at the cut-off) over an inline roster (nothing is written to derived.roster), with the school stage:
-- 九年一贯制 schools count grades 1-6 as 小学 and 7-9 as 初中.
-- Bind parameters: quarter, and those of rules/roster and rules/suspected_dropouts for the month.
-- Part month_roster (query): rules/roster.
-- Part month_suspected (query): rules/suspected_dropouts over the relation month_roster.
-- month_roster is read inside the month_suspected part, which sqlfluff cannot see (ST03)
WITH month_roster AS ({month_roster})  -- noqa: ST03
SELECT :quarter AS period, sd.period AS month, sd.person_key, sd.id_number, sd.student_no, sd.school_code,
       sd.township_code, sd.grade,
       CASE WHEN s.stage = '小学' THEN '小学' WHEN s.stage = '初中' THEN '初中'
            WHEN sd.grade <= 6 THEN '小学' ELSE '初中' END AS stage,
       sd.rules
FROM ({month_suspected}) sd
LEFT JOIN staged.schools s ON s.school_code = sd.school_code
