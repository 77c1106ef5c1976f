-- daily/sd1_reached: the school day of the month (start .. end) on which each child's SD1 was first reached, as R7
-- dates it: the N-th day of an unexcused streak (consecutive: the streak's first_seen), or the day the month's
-- unexcused days reached M (monthly). The ledger's suspected date of an SD1 case.
-- Bind parameters: start, end, absence_only, consecutive_days, monthly_days.
-- Part attendance_persons (subquery): the unexcused roll call from lo to hi matched to persons (warehouse.views).
-- Part school_days (query): daily/school_days of the window's roll call (all rows, unmatched).
-- Part absent (query): daily/absent of ap and numbered (which read those CTEs: noqa ST03 on them).
WITH ap AS {attendance_persons},  -- noqa: ST03
numbered AS ({school_days}),  -- noqa: ST03
absent AS ({absent}),
islands AS (
    SELECT person_key, school_code, date, day_no,
           day_no - row_number() OVER (PARTITION BY person_key, school_code ORDER BY day_no) AS grp
    FROM absent
),
runs AS (
    SELECT person_key, date,
           row_number() OVER (PARTITION BY person_key, school_code, grp ORDER BY day_no) AS k
    FROM islands
),
month_absent AS (
    SELECT person_key, date, row_number() OVER (PARTITION BY person_key ORDER BY date) AS k
    FROM (SELECT DISTINCT person_key, date FROM absent WHERE date >= :start) x
),
reached AS (
    SELECT person_key, date FROM runs WHERE k = :consecutive_days AND date BETWEEN :start AND :end
    UNION ALL
    SELECT person_key, date FROM month_absent WHERE k = :monthly_days
)
SELECT person_key, min(date) AS reached FROM reached GROUP BY person_key
