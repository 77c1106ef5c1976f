-- daily/warnings: R7's warnings of day d, one row per child and reason (consecutive: the unexcused streak ending on d
-- reaches consecutive_days; monthly: the month's unexcused days up to d reach monthly_days and d is one of them;
-- open_case: a child whose case the ledger last left persuading, escalated or returned is absent without leave),
-- without children present at any school on d, deferred or suspended on d, or deceased.
-- Bind parameters: d, from_date, month_start, month, absence_only, consecutive_days, monthly_days.
-- Part attendance_persons (subquery): the unexcused roll call from from_date to d, and d's present rows, matched
-- to persons (warehouse.views).
-- Part school_days (query): daily/school_days of the window's roll call (all rows, unmatched).
-- Part absent (query): daily/absent of ap and numbered (which read those CTEs: noqa ST03 on them).
WITH ap AS {attendance_persons},  -- noqa: ST03
numbered AS ({school_days}),  -- noqa: ST03
absent AS ({absent}),
today AS (  -- absent without leave on D, and present nowhere that day
    SELECT person_key, min(school_code) AS school_code FROM absent WHERE date = :d
      AND person_key NOT IN (SELECT person_key FROM ap WHERE date = :d AND status = 'present')
    GROUP BY person_key
),
islands AS (
    SELECT b.person_key, b.school_code, b.date, b.day_no,
           b.day_no - row_number() OVER (PARTITION BY b.person_key, b.school_code ORDER BY b.day_no) AS grp
    FROM absent b JOIN today t ON t.person_key = b.person_key AND t.school_code = b.school_code
),
streak AS (
    SELECT i.person_key, i.school_code, count(*) AS days, min(i.day_no) AS first_no, min(i.date) AS first_date
    FROM islands i
    JOIN islands d ON d.person_key = i.person_key AND d.school_code = i.school_code AND d.grp = i.grp
                  AND d.date = :d
    GROUP BY i.person_key, i.school_code
),
month_absent AS (
    SELECT person_key, date, row_number() OVER (PARTITION BY person_key ORDER BY date) AS k
    FROM (SELECT DISTINCT person_key, date FROM absent WHERE date >= :month_start) x
    WHERE person_key IN (SELECT person_key FROM today)
),
cases AS (  -- open as the ledger last recorded it: persuading, escalated or returned
    SELECT person_key FROM (
        SELECT person_key, to_state,
               row_number() OVER (PARTITION BY person_key ORDER BY created_for_period DESC, event_seq DESC) AS rn
        FROM ledger.case_events WHERE created_for_period <= :month) e
    WHERE rn = 1 AND to_state IN ('persuading', 'escalated', 'returned')
),
excluded AS (
    SELECT id_number AS person_key FROM staged.exemptions
        WHERE approved_on <= :d AND valid_until >= :d AND id_number IS NOT NULL
    UNION SELECT id_number FROM staged.census_current WHERE residence_status = 'deceased' AND id_number IS NOT NULL
),
found AS (
    SELECT s.person_key, s.school_code, 'consecutive' AS reason, s.days AS days_absent, n.date AS first_seen
    FROM streak s JOIN numbered n ON n.school_code = s.school_code AND n.day_no = s.first_no + :consecutive_days - 1
    WHERE s.days >= :consecutive_days
    UNION ALL
    SELECT t.person_key, t.school_code, 'monthly', m.n, m.reached
    FROM today t JOIN (SELECT person_key, max(k) AS n, min(CASE WHEN k = :monthly_days THEN date END) AS reached
                       FROM month_absent GROUP BY person_key) m ON m.person_key = t.person_key
    WHERE m.n >= :monthly_days
    UNION ALL
    SELECT s.person_key, s.school_code, 'open_case', s.days, s.first_date
    FROM streak s WHERE s.person_key IN (SELECT person_key FROM cases)
)
SELECT f.person_key, f.school_code, f.reason, f.days_absent, f.first_seen
FROM found f WHERE f.person_key NOT IN (SELECT person_key FROM excluded)
