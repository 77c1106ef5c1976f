-- quarterly/township_rates -> derived.township_rates: per township, school-age children, enrolled among them,
-- enrolment rate, out of school, verify elsewhere, suspected in the quarter, still out at the cut-off.
-- Bind parameters: as quarterly/township_people.
-- Part township_people (query): quarterly/township_people.
-- Part data_townships (query): quarterly/data_townships.
WITH people AS ({township_people}),
counts AS (SELECT township_code, measure, count(DISTINCT person) AS n FROM people GROUP BY township_code, measure),
towns AS (SELECT township_code FROM ({data_townships}) d UNION SELECT township_code FROM counts
          WHERE township_code IS NOT NULL)
SELECT :period AS period, t.township_code, CAST(:end AS DATE) AS as_of,
       coalesce(sa.n, 0), coalesce(en.n, 0),
       CASE WHEN coalesce(sa.n, 0) = 0 THEN NULL ELSE CAST(coalesce(en.n, 0) AS DOUBLE PRECISION) / sa.n END,
       coalesce(oo.n, 0), coalesce(ve.n, 0), coalesce(sd.n, 0), coalesce(so.n, 0)
FROM towns t
LEFT JOIN counts sa ON sa.township_code = t.township_code AND sa.measure = 'school_age'
LEFT JOIN counts en ON en.township_code = t.township_code AND en.measure = 'enrolled'
LEFT JOIN counts oo ON oo.township_code = t.township_code AND oo.measure = 'out_of_school'
LEFT JOIN counts ve ON ve.township_code = t.township_code AND ve.measure = 'verify_elsewhere'
LEFT JOIN counts sd ON sd.township_code = t.township_code AND sd.measure = 'suspected'
LEFT JOIN counts so ON so.township_code = t.township_code AND so.measure = 'still_out'
