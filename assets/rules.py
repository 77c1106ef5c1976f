"""The dropout and out-of-school rules of DESIGN.md as warehouse SQL, one function per table.

Portable SQL (DuckDB and PostgreSQL). Every query takes the bind parameters ``:period`` (text),
``:start`` and ``:end`` (the period's first and last day) and ``:ref_date`` (school-age reference date),
plus the thresholds of :class:`RuleConfig` and ``:absence_only`` (0 or 1, :func:`mode_params` of the
attendance mode, ``KongchuoHome.attendance_mode``).

Attendance modes (one query per rule; the mode-dependent parts are guarded by ``:absence_only``):
- ``rollcall`` (default): one row per student per school day. A school's school days are the dates on which
  it has rows; "no row in the period" is SD5/DQ05.
- ``absence_only`` (province scale): only rows whose status is not ``present``. A school's school days come
  from ``staged.school_calendar`` (its own rows, else the rows without ``school_code``); an ACTIVE record is
  on the roll every school day, so its present days = school days − its absence rows, and a child with no
  rows was present. SD1 counts runs over the school-day numbers of the calendar; SD2 = absent (any
  non-present status) on every one of the term's first ``term_start_days`` school days; SD5 and DQ05 are not
  evaluated (nothing says "never seen"). Records that are not active get no implied days: their rows only
  (SD3's "last seen" is the person's last attendance row, i.e. the last absence row).

Semantics (the synthetic generator plants exactly these):
- A registry record's key is ``coalesce(student_no, id_number)``; a person's key is
  ``coalesce(id_number, student_no)``. Attendance rows match a record at the same school by
  ``student_no`` when the row has one, else by ``id_number``.
- School days of a school are the dates on which it has roll-call rows (make-up Saturdays included);
  in absence_only mode the dates of the school calendar.
- SD1: on one record, ≥ ``consecutive_days`` unexcused school days in a row within the period, or
  ≥ ``monthly_days`` unexcused days in the period.
- SD2: the period holds the first school day of a term; the person has roll-call rows in the period but
  no ``present`` in the school's first ``term_start_days`` school days of the term. A term starts on the
  school's first school day on or after 1 September or 1 February.
- SD3: a record says transferred out, the person has no active record anywhere, and more than
  ``transfer_grace_days`` days lie between the person's last roll-call row (up to the period end) and the
  period's last day (or the person was never seen).
- SD4: a record says dropped out (辍学).
- SD5: the person has an active record and no roll-call row at all in the period (DQ05 at person level).
  Not evaluated in absence_only mode (a child without rows was present).
- Excluded from all SD rules: deferral/suspension approved and in force during the period, home-taught
  children (any 送教上门 visit in the school year up to the period end), deceased (registry or census),
  and persons older than ``max_age`` full years on the period's last day.
- Out of school (失学): census child 6–15 full years old on ``ref_date``, residence 在户 or 外出, with no
  registry record in any state (by ID number) and no exemption in force; 外出 ones get
  ``verify_elsewhere`` (verify enrolment elsewhere).
"""

from __future__ import annotations

from dagster import Config


class RuleConfig(Config):
    """Thresholds of the suspected-dropout rules (DESIGN.md defaults)."""

    consecutive_days: int = 3
    monthly_days: int = 10
    term_start_days: int = 10
    transfer_grace_days: int = 30
    max_age: int = 16
    min_school_age: int = 6
    max_school_age: int = 15

    def params(self) -> dict[str, int]:
        return self.model_dump()


ATTENDANCE_MODES = ("rollcall", "absence_only")


def mode_params(mode: str) -> dict[str, int]:
    """The bind parameter ``:absence_only`` of the rule SQL for an attendance mode."""
    if mode not in ATTENDANCE_MODES:
        raise ValueError(f"attendance mode must be one of {', '.join(ATTENDANCE_MODES)}, not {mode!r}")
    return {"absence_only": int(mode == "absence_only")}


def age_sql(birth: str, on: str) -> str:
    """Full years between ``birth`` and ``on`` (both DATE expressions), portable."""
    return (
        f"(CAST(EXTRACT(YEAR FROM {on}) AS INTEGER) - CAST(EXTRACT(YEAR FROM {birth}) AS INTEGER)"
        f" - CASE WHEN EXTRACT(MONTH FROM {birth}) * 100 + EXTRACT(DAY FROM {birth})"
        f" > EXTRACT(MONTH FROM {on}) * 100 + EXTRACT(DAY FROM {on}) THEN 1 ELSE 0 END)"
    )


ACTIVE = "'active'"

# Attendance rows of the whole school year up to the period end, keyed to registry records.
_MATCHED_ATTENDANCE = """
    att AS (
        SELECT a.student_no, a.id_number, a.school_code, a.date, a.status
        FROM staged.attendance_current a
        WHERE a.date <= :end AND a.date > CAST(:ref_date AS DATE)
    ),
    matched AS (
        SELECT r.record_key, a.school_code, a.date, a.status
        FROM att a JOIN reg r ON a.student_no = r.student_no AND a.school_code = r.school_code
        UNION ALL
        SELECT r.record_key, a.school_code, a.date, a.status
        FROM att a JOIN reg r
          ON a.student_no IS NULL AND a.id_number = r.id_number AND a.school_code = r.school_code
    )"""

ROSTER_SQL = f"""
    WITH reg AS (
        SELECT coalesce(r.student_no, r.id_number) AS record_key, coalesce(r.id_number, r.student_no) AS person_key,
               r.id_number, r.student_no, r.school_code, coalesce(s.township_code, r.township_code) AS township_code,
               r.grade, r.birth_date, r.status
        FROM staged.registry_current r LEFT JOIN staged.schools s ON s.school_code = r.school_code
    ),
    {_MATCHED_ATTENDANCE},
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
    term_start AS (
        SELECT school_code, min(date) AS first_day
        FROM school_days
        WHERE (EXTRACT(MONTH FROM date) >= 9 OR EXTRACT(MONTH FROM date) BETWEEN 2 AND 7)
        GROUP BY school_code, CASE WHEN EXTRACT(MONTH FROM date) >= 9 THEN 1 ELSE 2 END
    ),
    term_first AS (
        SELECT t.school_code, d.day_no AS first_no
        FROM term_start t JOIN school_days d ON d.school_code = t.school_code AND d.date = t.first_day
        WHERE t.first_day BETWEEN :start AND :end
    ),
    term_days AS (
        SELECT d.school_code, d.date
        FROM school_days d JOIN term_first f ON f.school_code = d.school_code
        WHERE d.day_no BETWEEN f.first_no AND f.first_no + :term_start_days - 1
    ),
    in_period AS (
        SELECT m.record_key, m.school_code, m.date, m.status, d.day_no
        FROM matched m JOIN school_days d ON d.school_code = m.school_code AND d.date = m.date
        WHERE m.date BETWEEN :start AND :end
    ),
    runs AS (
        SELECT record_key, count(*) AS run_len
        FROM (SELECT record_key, day_no - ROW_NUMBER() OVER (PARTITION BY record_key ORDER BY day_no) AS grp
              FROM in_period WHERE status = 'unexcused') u
        GROUP BY record_key, grp
    ),
    longest AS (SELECT record_key, max(run_len) AS max_unexcused_run FROM runs GROUP BY record_key),
    stats AS (
        SELECT record_key, count(*) AS attendance_days,
               sum(CASE WHEN status = 'present' THEN 1 ELSE 0 END) AS present_days,
               sum(CASE WHEN status = 'unexcused' THEN 1 ELSE 0 END) AS unexcused_days,
               sum(CASE WHEN status IN ('sick_leave', 'personal_leave') THEN 1 ELSE 0 END) AS leave_days,
               min(CASE WHEN status = 'present' THEN date END) AS first_present,
               max(CASE WHEN status = 'present' THEN date END) AS last_present
        FROM in_period GROUP BY record_key
    ),
    seen AS (SELECT record_key, max(date) AS last_seen FROM matched GROUP BY record_key),
    term_presence AS (
        SELECT m.record_key, sum(CASE WHEN m.status = 'present' THEN 1 ELSE 0 END) AS term_days_present,
               count(*) AS term_rows
        FROM matched m JOIN term_days t ON t.school_code = m.school_code AND t.date = m.date
        GROUP BY m.record_key
    ),
    period_days AS (
        SELECT school_code, count(*) AS school_days, min(day_no) AS first_no, max(day_no) AS last_no
        FROM school_days WHERE date BETWEEN :start AND :end GROUP BY school_code
    ),
    -- absence_only: what an active record's implied presence needs (empty in rollcall mode)
    term_len AS (SELECT school_code, count(*) AS term_days FROM term_days WHERE :absence_only = 1 GROUP BY school_code),
    school_last AS (SELECT school_code, max(date) AS last_day FROM school_days WHERE :absence_only = 1
                    GROUP BY school_code),
    absent_runs AS (  -- runs of consecutive school days with a non-present row
        SELECT record_key, school_code, min(day_no) AS run_first, max(day_no) AS run_last
        FROM (SELECT record_key, school_code, day_no,
                     day_no - ROW_NUMBER() OVER (PARTITION BY record_key, school_code ORDER BY day_no) AS grp
              FROM (SELECT DISTINCT record_key, school_code, day_no FROM in_period
                    WHERE :absence_only = 1 AND status <> 'present') x) y
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
        SELECT r.*, (:absence_only = 1 AND r.status = {ACTIVE}) AS implied,
               p.school_days, p.first_no, p.last_no
        FROM reg r LEFT JOIN period_days p ON p.school_code = r.school_code
    )
    SELECT :period AS period, r.person_key, r.id_number, r.student_no, r.school_code, r.township_code, r.grade,
           r.birth_date, r.status, coalesce(r.school_days, 0) AS school_days,
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
           CASE WHEN r.implied THEN tl.term_days - coalesce(tp.term_rows - tp.term_days_present, 0)
                ELSE tp.term_days_present END AS term_days_present
    FROM roster r
    LEFT JOIN stats s ON s.record_key = r.record_key
    LEFT JOIN longest lr ON lr.record_key = r.record_key
    LEFT JOIN seen ON seen.record_key = r.record_key
    LEFT JOIN term_presence tp ON tp.record_key = r.record_key
    LEFT JOIN term_len tl ON r.implied AND tl.school_code = r.school_code
    LEFT JOIN school_last sl ON r.implied AND sl.school_code = r.school_code
    LEFT JOIN presence_edges pe ON r.implied AND pe.record_key = r.record_key AND pe.school_code = r.school_code
    LEFT JOIN school_days fp ON r.implied AND fp.school_code = r.school_code
                             AND fp.day_no = coalesce(pe.first_no, r.first_no) AND fp.date >= :start
    LEFT JOIN school_days lp ON r.implied AND lp.school_code = r.school_code
                             AND lp.day_no = coalesce(pe.last_no, r.last_no) AND lp.date >= :start
"""

# Persons excluded from every SD rule in the period, with the reason.
EXCLUSIONS_SQL = f"""
    SELECT DISTINCT id_number AS person_key, 'exemption' AS reason FROM staged.exemptions
        WHERE approved_on <= :end AND valid_until >= :start AND id_number IS NOT NULL
    UNION SELECT DISTINCT id_number, 'home_teaching' FROM staged.home_teaching
        WHERE visit_date > CAST(:ref_date AS DATE) AND visit_date <= :end AND id_number IS NOT NULL
    UNION SELECT DISTINCT person_key, 'deceased' FROM derived.roster WHERE period = :period AND status = 'deceased'
    UNION SELECT DISTINCT id_number, 'deceased' FROM staged.census_current WHERE residence_status = 'deceased'
    UNION SELECT DISTINCT person_key, 'over_age' FROM derived.roster
        WHERE period = :period AND birth_date IS NOT NULL AND {age_sql('birth_date', 'CAST(:end AS DATE)')} > :max_age
"""

SUSPECTED_DROPOUTS_SQL = f"""
    WITH ro AS (SELECT * FROM derived.roster WHERE period = :period),
    person AS (
        SELECT person_key,
               max(CASE WHEN status = {ACTIVE} THEN 1 ELSE 0 END) AS has_active,
               sum(attendance_days) AS attendance_days
        FROM ro GROUP BY person_key
    ),
    fired AS (
        SELECT person_key, school_code, 'SD1' AS rule FROM ro
            WHERE max_unexcused_run >= :consecutive_days OR unexcused_days >= :monthly_days
        UNION ALL
        SELECT ro.person_key, ro.school_code, 'SD2' FROM ro JOIN person p ON p.person_key = ro.person_key
            WHERE ro.status = {ACTIVE} AND ro.term_days_present = 0 AND p.attendance_days > 0
        UNION ALL
        SELECT ro.person_key, ro.school_code, 'SD3' FROM ro JOIN person p ON p.person_key = ro.person_key
            WHERE ro.status = 'transferred_out' AND p.has_active = 0
              AND (ro.last_seen IS NULL OR CAST(:end AS DATE) - ro.last_seen > :transfer_grace_days)
        UNION ALL
        SELECT person_key, school_code, 'SD4' FROM ro WHERE status = 'dropped_out'
        UNION ALL
        SELECT ro.person_key, ro.school_code, 'SD5' FROM ro JOIN person p ON p.person_key = ro.person_key
            WHERE ro.status = {ACTIVE} AND p.attendance_days = 0 AND :absence_only = 0
    ),
    kept AS (
        SELECT f.* FROM fired f
        WHERE NOT EXISTS (SELECT 1 FROM ({EXCLUSIONS_SQL}) e WHERE e.person_key = f.person_key)
    ),
    home AS (  -- the record the case is filed under: the first school (by code) where a rule fired
        SELECT person_key, min(school_code) AS school_code FROM kept GROUP BY person_key
    )
    SELECT :period AS period, max(ro.id_number) AS id_number, max(ro.student_no) AS student_no, k.person_key,
           h.school_code, max(ro.township_code) AS township_code, max(ro.grade) AS grade,
           (SELECT string_agg(DISTINCT rule, ',' ORDER BY rule) FROM kept k2 WHERE k2.person_key = k.person_key) AS rules
    FROM (SELECT DISTINCT person_key FROM kept) k
    JOIN home h ON h.person_key = k.person_key
    JOIN ro ON ro.person_key = k.person_key AND ro.school_code = h.school_code
    GROUP BY k.person_key, h.school_code
"""

OUT_OF_SCHOOL_SQL = f"""
    SELECT :period AS period, c.id_number, c.township_code, c.birth_date,
           (c.residence_status = 'away') AS verify_elsewhere
    FROM staged.census_current c
    WHERE c.residence_status IN ('resident', 'away') AND c.birth_date IS NOT NULL
      AND {age_sql('c.birth_date', 'CAST(:ref_date AS DATE)')} BETWEEN :min_school_age AND :max_school_age
      AND NOT EXISTS (SELECT 1 FROM staged.registry_current r WHERE r.id_number = c.id_number)
      AND NOT EXISTS (SELECT 1 FROM staged.exemptions e WHERE e.id_number = c.id_number
                      AND e.approved_on <= :end AND e.valid_until >= :start)
"""
