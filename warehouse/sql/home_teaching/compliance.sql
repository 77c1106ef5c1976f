-- home_teaching/compliance -> derived.home_teaching_compliance: each home-taught child's visits in the month
-- (de-duplicated across files by child, date, class hours, teacher) and whether min_visits visits had min_hours
-- class hours or more; assessed only in a month with roll call. The child's record: active or suspended first.
-- Bind parameters: period, start, end, ref_date, min_visits, min_hours.
WITH visits AS (
    SELECT DISTINCT id_number, visit_date, class_hours, teacher FROM staged.home_teaching
    WHERE id_number IS NOT NULL AND visit_date > CAST(:ref_date AS DATE) AND visit_date <= :end
),
taught AS (SELECT DISTINCT id_number FROM visits),
month AS (
    SELECT id_number, count(*) AS visits,
           sum(CASE WHEN class_hours >= :min_hours THEN 1 ELSE 0 END) AS qualifying_visits,
           sum(class_hours) AS class_hours, min(visit_date) AS first_visit, max(visit_date) AS last_visit
    FROM visits WHERE visit_date >= :start GROUP BY id_number
),
reg AS (
    SELECT r.id_number, r.school_code, coalesce(s.township_code, r.township_code) AS township_code,
           row_number() OVER (PARTITION BY r.id_number
                              ORDER BY CASE WHEN r.status IN ('active', 'suspended') THEN 0 ELSE 1 END,
                                       r.school_code) AS rn
    FROM staged.registry_current r LEFT JOIN staged.schools s ON s.school_code = r.school_code
    WHERE r.id_number IS NOT NULL
)
SELECT :period AS period, t.id_number, coalesce(r.township_code, c.township_code) AS township_code,
       r.school_code, coalesce(m.visits, 0), coalesce(m.qualifying_visits, 0), coalesce(m.class_hours, 0),
       m.first_visit, m.last_visit, coalesce(m.qualifying_visits, 0) >= :min_visits AS compliant
FROM taught t
LEFT JOIN month m ON m.id_number = t.id_number
LEFT JOIN reg r ON r.id_number = t.id_number AND r.rn = 1
LEFT JOIN staged.census_current c ON c.id_number = t.id_number
WHERE EXISTS (SELECT 1 FROM staged.attendance_current a WHERE a.date BETWEEN :start AND :end)
