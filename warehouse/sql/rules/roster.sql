-- rules/roster -> derived.roster: 人籍比对名册, one row per current registry record with what the period's roll call
-- says (school days, present / unexcused / leave days, longest unexcused run, last day seen, SD2 term presence,
-- SD3 transfer date). Rules and attendance modes: the docstring of assets/rules.py (DESIGN.md).
-- Bind parameters: period, start, end, ref_date, consecutive_days, term_start_days, absence_only, sd2_evaluate,
-- term_first, term_tenth.
-- Part registry_persons (query): warehouse.views.registry_persons_sql(), the current registry records with
-- record_key, person_key and age_birth_date (the matching rule of DESIGN.md, written once).
-- Part attendance_school_year (subquery): warehouse.views.attendance_persons_sql() over the school year up to the
-- cut-off, the roll-call rows with their person_key.
-- reg is NOT MATERIALIZED: DuckDB materialises a CTE used more than once, and holding every current record (15M
-- rows in a province) ran out of memory; re-reading the current table per use is cheap.
WITH reg AS NOT MATERIALIZED (
    SELECT r.record_key, r.person_key, r.student_no, r.school_code, coalesce(r.school_code, '') AS school_k,
           CASE WHEN r.person_key = r.student_no THEN r.id_number ELSE r.person_key END AS id_number,
           coalesce(s.township_code, r.township_code) AS township_code, r.grade, r.age_birth_date, r.status,
           r.change_date, coalesce(r.id_number, r.student_no) AS snap_key
    FROM ({registry_persons}) r LEFT JOIN staged.schools s ON s.school_code = r.school_code
),
-- SD3's transfer date of a 转出 record without a change date (变动日期/异动日期): the date of the first registry
-- snapshot showing it 转出, after the last snapshot showing it in another state (a record transferred out, back
-- and out again is dated by its latest transfer). A record across snapshots is the current table's key (ID,
-- else student number) at its school. Only the few 转出 records are looked up in the staged history.
reg_out AS (SELECT DISTINCT snap_key, school_k FROM reg WHERE status = 'transferred_out'),
out_history AS (
    SELECT o.snap_key, o.school_k, f.snapshot_date, h.status
    FROM staged.registry h
    JOIN (SELECT file_sha, min(snapshot_date) AS snapshot_date FROM raw.snapshots
          WHERE source = 'registry' AND status IN ('applied', 'confirmed') GROUP BY file_sha) f
      ON f.file_sha = h.file_sha
    JOIN reg_out o ON o.snap_key = coalesce(h.id_number, h.student_no) AND o.school_k = coalesce(h.school_code, '')
),
transfers AS (
    SELECT x.snap_key, x.school_k, min(x.snapshot_date) AS first_out
    FROM out_history x
    WHERE x.status = 'transferred_out'
      AND NOT EXISTS (SELECT 1 FROM out_history y WHERE y.snap_key = x.snap_key AND y.school_k = x.school_k
                      AND y.status <> 'transferred_out' AND y.snapshot_date >= x.snapshot_date)
    GROUP BY x.snap_key, x.school_k
),

-- Roll-call rows of the school year up to the cut-off, each filed under a record of its person (at any school).
-- The record is chosen once per (person, school) place, not per row: far fewer places than rows in a month.
att AS (
    SELECT ap.*, coalesce(ap.school_code, '') AS school_k
    FROM {attendance_school_year} ap
),
place AS (SELECT DISTINCT person_key, school_k FROM att),
rec AS (  -- a person's record at each school, and the person's first record (active first)
    SELECT record_key, school_k AS rec_school, person_key,
           row_number() OVER (PARTITION BY person_key, school_k
                              ORDER BY CASE WHEN status = 'active' THEN 0 ELSE 1 END, record_key) AS at_school,
           row_number() OVER (PARTITION BY person_key ORDER BY CASE WHEN status = 'active' THEN 0 ELSE 1 END,
                              school_code, record_key) AS overall
    FROM reg WHERE person_key IN (SELECT person_key FROM place)
),
multi AS (SELECT person_key FROM place GROUP BY person_key HAVING count(*) > 1),
place_rec AS (  -- the record at the row's school, else the person's first record
    SELECT p.person_key, p.school_k, coalesce(rs.record_key, rp.record_key) AS record_key,
           CASE WHEN rs.record_key IS NULL THEN rp.rec_school ELSE rs.rec_school END AS rec_school,
           (m.person_key IS NOT NULL) AS multi
    FROM place p
    JOIN rec rp ON rp.person_key = p.person_key AND rp.overall = 1
    LEFT JOIN rec rs ON rs.person_key = p.person_key AND rs.rec_school = p.school_k AND rs.at_school = 1
    LEFT JOIN multi m ON m.person_key = p.person_key
),
present_elsewhere AS (  -- only persons with rows at two schools can be present elsewhere the same day
    SELECT DISTINCT a.person_key, a.date FROM att a JOIN multi m ON m.person_key = a.person_key
    WHERE a.status = 'present'
),
matched AS (  -- an unexcused row on a day the person is present at another school does not count
    SELECT pr.record_key, pr.rec_school, a.school_code, a.date, a.status
    FROM att a
    JOIN place_rec pr ON pr.person_key = a.person_key AND pr.school_k = a.school_k
    LEFT JOIN present_elsewhere pe
           ON pr.multi AND a.status = 'unexcused' AND pe.person_key = a.person_key AND pe.date = a.date
    WHERE pe.person_key IS NULL
),
calendar_days AS (  -- absence_only: a school's own calendar rows, else the calendar rows without school_code
    SELECT s.school_code, c.date
    FROM (SELECT school_code FROM staged.schools UNION SELECT school_code FROM reg WHERE school_code IS NOT NULL) s
    JOIN staged.school_calendar c ON c.school_code = s.school_code
    WHERE :absence_only = 1 AND c.date <= :end AND c.date > CAST(:ref_date AS DATE)
    UNION
    SELECT s.school_code, c.date
    FROM (SELECT school_code FROM staged.schools UNION SELECT school_code FROM reg WHERE school_code IS NOT NULL) s
    CROSS JOIN staged.school_calendar c
    WHERE :absence_only = 1 AND c.school_code IS NULL AND c.date <= :end AND c.date > CAST(:ref_date AS DATE)
      AND NOT EXISTS (SELECT 1 FROM staged.school_calendar o WHERE o.school_code = s.school_code)
),
school_days AS (
    SELECT school_code, date,
           ROW_NUMBER() OVER (PARTITION BY school_code ORDER BY date) AS day_no
    FROM (SELECT DISTINCT school_code, date FROM att WHERE :absence_only = 0
          UNION ALL SELECT school_code, date FROM calendar_days) d
),
in_period AS (
    SELECT m.record_key, m.rec_school, m.school_code, m.date, m.status, d.day_no
    FROM matched m JOIN school_days d ON d.school_code = m.school_code AND d.date = m.date
    WHERE m.date BETWEEN :start AND :end
),
period_days AS (
    SELECT school_code, count(*) AS school_days, min(day_no) AS first_no, max(day_no) AS last_no
    FROM school_days WHERE date BETWEEN :start AND :end GROUP BY school_code
),
unexcused AS (  -- unexcused rows numbered by their school's school days, from N school days before the period:
    -- enough to see whether a run had reached N before the period started
    SELECT m.record_key, m.rec_school, m.school_code, m.date,
           d.day_no - ROW_NUMBER() OVER (PARTITION BY m.record_key, m.rec_school, m.school_code
                                         ORDER BY d.day_no) AS grp
    FROM matched m
    JOIN school_days d ON d.school_code = m.school_code AND d.date = m.date
    JOIN period_days pd ON pd.school_code = m.school_code AND d.day_no >= pd.first_no - :consecutive_days
    WHERE m.status = 'unexcused'
),
runs AS (  -- a streak runs over school days only: across weekends, holidays and month ends
    SELECT record_key, rec_school, count(*) AS run_len, max(date) AS last_date,
           sum(CASE WHEN date < :start THEN 1 ELSE 0 END) AS days_before
    FROM unexcused GROUP BY record_key, rec_school, school_code, grp
),
longest AS (  -- runs still counting in the period: one that reached N before it belongs to that month
    SELECT record_key, rec_school, max(run_len) AS max_unexcused_run FROM runs
    WHERE last_date >= :start AND days_before < :consecutive_days
    GROUP BY record_key, rec_school
),
stats AS (
    SELECT record_key, rec_school, count(*) AS attendance_days,
           sum(CASE WHEN status = 'present' THEN 1 ELSE 0 END) AS present_days,
           sum(CASE WHEN status = 'unexcused' THEN 1 ELSE 0 END) AS unexcused_days,
           sum(CASE WHEN status IN ('sick_leave', 'personal_leave') THEN 1 ELSE 0 END) AS leave_days,
           min(CASE WHEN status = 'present' THEN date END) AS first_present,
           max(CASE WHEN status = 'present' THEN date END) AS last_present
    FROM in_period GROUP BY record_key, rec_school
),
seen AS (SELECT record_key, rec_school, max(date) AS last_seen FROM matched GROUP BY record_key, rec_school),
term_presence AS (  -- the term's first school days (:term_first .. :term_tenth), any school
    SELECT record_key, rec_school, count(DISTINCT CASE WHEN status = 'present' THEN date END) AS present,
           count(DISTINCT CASE WHEN status <> 'present' THEN date END) AS absent
    FROM matched WHERE :sd2_evaluate = 1 AND date BETWEEN :term_first AND :term_tenth
    GROUP BY record_key, rec_school
),
-- absence_only: what an active record's implied presence needs (empty in rollcall mode)
school_last AS (SELECT school_code, max(date) AS last_day FROM school_days WHERE :absence_only = 1
                GROUP BY school_code),
absent_runs AS (  -- runs of consecutive school days with a non-present row
    SELECT record_key, school_code, min(day_no) AS run_first, max(day_no) AS run_last
    FROM (SELECT record_key, school_code, day_no,
                 day_no - ROW_NUMBER() OVER (PARTITION BY record_key, school_code ORDER BY day_no) AS grp
          FROM (SELECT DISTINCT record_key, school_code, day_no FROM in_period
                WHERE :absence_only = 1 AND status <> 'present' AND school_code = rec_school) x) y
    GROUP BY record_key, school_code, grp
),
presence_edges AS (  -- first / last present school-day number when the period starts / ends with absences
    SELECT a.record_key, a.school_code,
           max(CASE WHEN a.run_first = p.first_no THEN a.run_last + 1 END) AS first_no,
           min(CASE WHEN a.run_last = p.last_no THEN a.run_first - 1 END) AS last_no
    FROM absent_runs a JOIN period_days p ON p.school_code = a.school_code
    GROUP BY a.record_key, a.school_code
),
roster AS (
    SELECT r.*, (:absence_only = 1 AND r.status = 'active') AS implied,
           p.school_days, p.first_no, p.last_no
    FROM reg r LEFT JOIN period_days p ON p.school_code = r.school_code
)
SELECT :period AS period, r.person_key, r.id_number, r.student_no, r.school_code, r.township_code, r.grade,
       r.age_birth_date AS birth_date, r.status, coalesce(r.school_days, 0) AS school_days,
       CASE WHEN r.implied THEN coalesce(r.school_days, 0)
            ELSE coalesce(s.attendance_days, 0) END AS attendance_days,
       CASE WHEN r.implied THEN coalesce(r.school_days, 0) - coalesce(s.attendance_days - s.present_days, 0)
            ELSE coalesce(s.present_days, 0) END AS present_days,
       coalesce(s.unexcused_days, 0) AS unexcused_days, coalesce(s.leave_days, 0) AS leave_days,
       coalesce(lr.max_unexcused_run, 0) AS max_unexcused_run,
       CASE WHEN r.implied THEN fp.date ELSE s.first_present END AS first_present,
       CASE WHEN r.implied THEN lp.date ELSE s.last_present END AS last_present,
       CASE WHEN r.implied AND (seen.last_seen IS NULL OR sl.last_day > seen.last_seen) THEN sl.last_day
            ELSE seen.last_seen END AS last_seen,
       CASE WHEN :sd2_evaluate = 0 THEN NULL
            WHEN r.implied THEN :term_start_days - coalesce(tp.absent, 0)
            ELSE coalesce(tp.present, 0) END AS term_days_present,
       CASE WHEN r.status = 'transferred_out' THEN coalesce(r.change_date, tr.first_out) END AS transfer_date
FROM roster r
LEFT JOIN transfers tr ON tr.snap_key = r.snap_key AND tr.school_k = r.school_k
LEFT JOIN stats s ON s.record_key = r.record_key AND s.rec_school = r.school_k
LEFT JOIN longest lr ON lr.record_key = r.record_key AND lr.rec_school = r.school_k
LEFT JOIN seen ON seen.record_key = r.record_key AND seen.rec_school = r.school_k
LEFT JOIN term_presence tp ON tp.record_key = r.record_key AND tp.rec_school = r.school_k
LEFT JOIN school_last sl ON r.implied AND sl.school_code = r.school_code
LEFT JOIN presence_edges pe ON r.implied AND pe.record_key = r.record_key AND pe.school_code = r.school_code
LEFT JOIN school_days fp ON r.implied AND fp.school_code = r.school_code
                         AND fp.day_no = coalesce(pe.first_no, r.first_no) AND fp.date >= :start
LEFT JOIN school_days lp ON r.implied AND lp.school_code = r.school_code
                         AND lp.day_no = coalesce(pe.last_no, r.last_no) AND lp.date >= :start
