"""The dropout and out-of-school rules of DESIGN.md as warehouse SQL, one function per table.

Portable SQL (DuckDB and PostgreSQL). Every query takes the bind parameters ``:period`` (text),
``:start`` and ``:end`` (the period's first and last day) and ``:ref_date`` (school-age reference date),
plus the thresholds of :class:`RuleConfig`, ``:absence_only`` (0 or 1, :func:`mode_params` of the
attendance mode, ``KongchuoHome.attendance_mode``) and the term parameters of SD2/SD6 (:func:`term_params`,
computed in Python from the term calendar); :func:`rule_params` gives them all.

Attendance modes (one query per rule; the mode-dependent parts are guarded by ``:absence_only``):
- ``rollcall`` (default): one row per student per school day. A school's school days are the dates on which
  it has rows; "no row in the period" is SD5/DQ05.
- ``absence_only`` (province scale): only rows whose status is not ``present``. A school's school days come
  from ``staged.school_calendar`` (its own rows, else the rows without ``school_code``); an ACTIVE record is
  on the roll every school day, so its present days = school days − its absence rows, and a child with no
  rows was present. SD1 counts runs over the school-day numbers of the calendar; SD2 = absent (any
  non-present status) on every one of the term's first ``term_start_days`` school days; SD5 and DQ05 are not
  evaluated (nothing says "never seen"). Records that are not active get no implied days: their rows only.

Semantics (the synthetic generator plants exactly these):
- Matching a child (DESIGN.md), one rule written once in :mod:`warehouse.views`: a registry record's key is
  ``coalesce(student_no, id_number)``; its person is its valid ID, else the ID inside a ``G`` + valid-ID student
  number, else the ID or student number as given (:func:`warehouse.views.registry_person_key_sql`). A roll-call
  row belongs to a person (its ID; else its student number's registry person; else the ID inside a ``G``
  number) and counts at ANY school: it is filed under the person's record at the row's school, else under the
  person's first record (active first). An unexcused row on a day the person is present at another school
  does not count. School age comes from the birth date inside a valid ID, else ``birth_date``.
- School days of a school are the dates on which it has roll-call rows (make-up Saturdays included);
  in absence_only mode the dates of the school calendar.
- SD1: a run of ``consecutive_days`` unexcused school days at one school reaches its N-th day in the period
  (a run crosses weekends, holidays and month ends, and belongs to the month in which it reaches N), or
  ≥ ``monthly_days`` unexcused days in the period, the person's days at every school together.
  ``derived.roster.max_unexcused_run`` is the longest run still counting in the period (its length up to the
  cut-off, from its first day, which may lie in an earlier month).
- SD2 (:mod:`kongchuo.terms`, bind parameters ``:sd2_evaluate``, ``:term_first``, ``:term_tenth``): the period
  holds the term's 10th school day and the delivered roll call reaches back into the term's first 5 school
  days; the person has an active record and no ``present`` row at any school in the term's first
  ``term_start_days`` school days (rows or not). Absence-only: absent on every one of those days.
- SD3: a record says transferred out, the person has no active record anywhere, and more than
  ``transfer_grace_days`` days lie between the transfer date and the cut-off. The transfer date
  (``derived.roster.transfer_date``) is the record's change date (``change_date``: 变动日期/异动日期) when its
  export has one, else the date of the first registry snapshot showing it 转出 (``raw.snapshots``); a person
  with several 转出 records is dated by the latest. Roll call plays no part (a child seen nowhere is not
  "transferred long ago").
- SD4: a record says dropped out (辍学).
- SD5: the person has an active record and no roll-call row at all in the period (DQ05 at person level).
  Not evaluated in absence_only mode (a child without rows was present).
- SD6 (``:sd6_evaluate``): a record says 毕业 at grade 6 and the person has no active record anywhere, at
  cut-offs from 30 days after the autumn term's start (:func:`kongchuo.terms.sd6_autumn_start`).
- Excluded from all SD rules: deferral/suspension approved and in force ON the cut-off ``:end`` (the month's
  last day; the quarter's cut-off in the quarterly tables), home-taught children (any 送教上门 visit in the
  school year up to the cut-off), deceased (registry or census), a 毕业 record at grade 9, and persons
  ``max_age`` (16) or more full years old on the cut-off.
- Out of school (失学): census child 6–15 full years old on ``ref_date`` (birth date from a valid ID), residence
  在户 or 外出, with no registry record in any state (by ID, then by the ID inside a ``G`` number) and no
  exemption in force on the cut-off; 外出 ones get ``verify_elsewhere`` (verify enrolment elsewhere).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from dagster import Config

from kongchuo import terms
from warehouse.views import (
    attendance_persons_sql,
    census_birth_sql,
    g_number_id_sql,
    registry_persons_sql,
    valid_id_sql,
)


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


def _as_date(value: Any) -> dt.date | None:
    if value is None:
        return None
    return value if isinstance(value, dt.date) and not isinstance(value, dt.datetime) else dt.date.fromisoformat(
        str(value)[:10])


def calendar_dates(warehouse: Any) -> list[dt.date]:
    """The district's school days from ``staged.school_calendar`` (rows without a school code, else all rows)."""
    df = warehouse.query_df("SELECT DISTINCT date, school_code IS NULL AS general FROM staged.school_calendar")
    if df.empty:
        return []
    general = df[df["general"].astype(bool)]
    return sorted({_as_date(d) for d in (general if len(general) else df)["date"]})


def term_params(warehouse: Any, start: dt.date, end: dt.date, mode: str = "rollcall") -> dict[str, Any]:
    """Bind parameters of SD2 and SD6 for the window ``start`` .. ``end`` (the cut-off), from the term calendar
    (:mod:`kongchuo.terms`), and ``sd2_note`` / ``sd6_note`` saying why a rule was or was not evaluated."""
    cal = calendar_dates(warehouse)
    out: dict[str, Any] = {"sd2_evaluate": 0, "term_first": start, "term_tenth": start, "sd6_evaluate": 0}
    term = terms.sd2_term(start, end, cal)
    if term is None:
        out["sd2_note"] = "本期不含学期第10个上课日 no term's 10th school day in the period"
    else:
        out["term_first"], out["term_tenth"] = term.first_day, term.day(terms.TERM_START_DAYS)
        if mode == "absence_only":
            covered = term.from_calendar
        else:
            first = _as_date(warehouse.scalar(
                "SELECT min(date) FROM staged.attendance_current WHERE date BETWEEN :a AND :b",
                {"a": term.first_day, "b": out["term_tenth"]}))
            covered = terms.roll_call_reaches_start(term, first)
        out["sd2_evaluate"] = int(covered)
        out["sd2_note"] = (f"{term.name} 开学 {term.first_day}, 第10个上课日 {out['term_tenth']}: " + (
            "已评估 evaluated" if covered else
            "考勤未覆盖开学前5个上课日，未评估 not evaluated: the roll call does not reach back to the term start"))
    autumn = terms.sd6_autumn_start(end, cal)
    out["sd6_evaluate"] = int(autumn is not None)
    out["sd6_note"] = (f"秋季学期开学 {autumn} 后30天起评估 evaluated" if autumn else "本期不评估 not evaluated")
    return out


def rule_params(warehouse: Any, period_bounds: dict[str, Any], config: "RuleConfig", mode: str) -> dict[str, Any]:
    """Every bind parameter of the rule SQL: the period's (``period_params``), thresholds, mode and terms."""
    return {**period_bounds, **config.params(), **mode_params(mode),
            **term_params(warehouse, period_bounds["start"], period_bounds["end"], mode)}


ACTIVE = "'active'"

# Roll-call rows of the school year up to the cut-off, each filed under a record of its person (at any school).
# The record is chosen once per (person, school) place, not per row: ~100k places against ~2M rows a month.
_MATCHED_ATTENDANCE = f"""
    att AS (
        SELECT ap.*, coalesce(ap.school_code, '') AS school_k
        FROM {attendance_persons_sql("a.date <= :end AND a.date > CAST(:ref_date AS DATE)")} ap
    ),
    place AS (SELECT DISTINCT person_key, school_k FROM att),
    rec AS (  -- a person's record at each school, and the person's first record (active first)
        SELECT record_key, school_k AS rec_school, person_key,
               row_number() OVER (PARTITION BY person_key, school_k
                                  ORDER BY CASE WHEN status = {ACTIVE} THEN 0 ELSE 1 END, record_key) AS at_school,
               row_number() OVER (PARTITION BY person_key ORDER BY CASE WHEN status = {ACTIVE} THEN 0 ELSE 1 END,
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
    )"""

# SD3's transfer date of a 转出 record without a change date (变动日期/异动日期): the date of the first registry
# snapshot showing it 转出, after the last snapshot showing it in another state (a record transferred out, back
# and out again is dated by its latest transfer). A record across snapshots is the current table's key (ID,
# else student number) at its school. Only the few 转出 records are looked up in the staged history.
_TRANSFERS = """
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
    )"""

ROSTER_SQL = f"""
    WITH reg AS (
        SELECT r.record_key, r.person_key, r.student_no, r.school_code, coalesce(r.school_code, '') AS school_k,
               CASE WHEN r.person_key = r.student_no THEN r.id_number ELSE r.person_key END AS id_number,
               coalesce(s.township_code, r.township_code) AS township_code, r.grade, r.age_birth_date, r.status,
               r.change_date, coalesce(r.id_number, r.student_no) AS snap_key
        FROM ({registry_persons_sql()}) r LEFT JOIN staged.schools s ON s.school_code = r.school_code
    ),
    {_TRANSFERS},
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
        SELECT r.*, (:absence_only = 1 AND r.status = {ACTIVE}) AS implied,
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
"""

# Persons excluded from every SD rule in the period, with the reason. "In force" = on the cut-off :end.
EXCLUSIONS_SQL = f"""
    SELECT DISTINCT id_number AS person_key, 'exemption' AS reason FROM staged.exemptions
        WHERE approved_on <= :end AND valid_until >= :end AND id_number IS NOT NULL
    UNION SELECT DISTINCT id_number, 'home_teaching' FROM staged.home_teaching
        WHERE visit_date > CAST(:ref_date AS DATE) AND visit_date <= :end AND id_number IS NOT NULL
    UNION SELECT DISTINCT person_key, 'deceased' FROM derived.roster WHERE period = :period AND status = 'deceased'
    UNION SELECT DISTINCT id_number, 'deceased' FROM staged.census_current WHERE residence_status = 'deceased'
    UNION SELECT DISTINCT person_key, 'graduated' FROM derived.roster
        WHERE period = :period AND status = 'graduated' AND grade = 9
    UNION SELECT DISTINCT person_key, 'over_age' FROM derived.roster
        WHERE period = :period AND birth_date IS NOT NULL AND {age_sql('birth_date', 'CAST(:end AS DATE)')} >= :max_age
"""

SUSPECTED_DROPOUTS_SQL = f"""
    WITH ro AS (SELECT * FROM derived.roster WHERE period = :period),
    person AS (  -- presence at any school is the person's: the rules look at the person's rows together
        SELECT person_key,
               max(CASE WHEN status = {ACTIVE} THEN 1 ELSE 0 END) AS has_active,
               sum(attendance_days) AS attendance_days, sum(unexcused_days) AS unexcused_days,
               max(max_unexcused_run) AS max_unexcused_run, sum(coalesce(term_days_present, 0)) AS term_days_present,
               max(transfer_date) AS transfer_date  -- the person's latest transfer out
        FROM ro GROUP BY person_key
    ),
    fired AS (
        SELECT ro.person_key, ro.school_code, 'SD1' AS rule FROM ro JOIN person p ON p.person_key = ro.person_key
            WHERE (p.max_unexcused_run >= :consecutive_days OR p.unexcused_days >= :monthly_days)
              AND (ro.status = {ACTIVE} OR p.has_active = 0)
        UNION ALL
        SELECT ro.person_key, ro.school_code, 'SD2' FROM ro JOIN person p ON p.person_key = ro.person_key
            WHERE :sd2_evaluate = 1 AND ro.status = {ACTIVE} AND p.term_days_present = 0
        UNION ALL
        SELECT ro.person_key, ro.school_code, 'SD3' FROM ro JOIN person p ON p.person_key = ro.person_key
            WHERE ro.status = 'transferred_out' AND p.has_active = 0
              AND CAST(:end AS DATE) - p.transfer_date > :transfer_grace_days
        UNION ALL
        SELECT person_key, school_code, 'SD4' FROM ro WHERE status = 'dropped_out'
        UNION ALL
        SELECT ro.person_key, ro.school_code, 'SD5' FROM ro JOIN person p ON p.person_key = ro.person_key
            WHERE ro.status = {ACTIVE} AND p.attendance_days = 0 AND :absence_only = 0
        UNION ALL
        SELECT ro.person_key, ro.school_code, 'SD6' FROM ro JOIN person p ON p.person_key = ro.person_key
            WHERE :sd6_evaluate = 1 AND ro.status = 'graduated' AND ro.grade = 6 AND p.has_active = 0
    ),
    kept AS (
        SELECT f.* FROM fired f
        WHERE NOT EXISTS (SELECT 1 FROM ({EXCLUSIONS_SQL}) e WHERE e.person_key = f.person_key)
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
"""

# Census children matched to registry records by ID, then by the ID inside a G number (any state).
OUT_OF_SCHOOL_SQL = f"""
    WITH reg_ids AS (
        SELECT id_number AS person_id FROM staged.registry_current WHERE id_number IS NOT NULL
        UNION SELECT {g_number_id_sql('t.student_no')} FROM staged.registry_current t  -- G + another ID: rare
            WHERE substr(t.student_no, 1, 1) = 'G' AND (t.id_number IS NULL OR t.student_no <> 'G' || t.id_number)
              AND (t.id_number IS NULL OR NOT {valid_id_sql('t.id_number')})
    ),
    census AS MATERIALIZED (  -- the birth date once per child (age_sql repeats its argument)
        SELECT c.id_number, c.township_code, c.residence_status, {census_birth_sql('c')} AS birth_date
        FROM staged.census_current c WHERE c.residence_status IN ('resident', 'away')
    )
    SELECT :period AS period, c.id_number, c.township_code, c.birth_date,
           (c.residence_status = 'away') AS verify_elsewhere
    FROM census c
    WHERE c.birth_date IS NOT NULL
      AND {age_sql('c.birth_date', 'CAST(:ref_date AS DATE)')} BETWEEN :min_school_age AND :max_school_age
      AND NOT EXISTS (SELECT 1 FROM reg_ids r WHERE r.person_id = c.id_number)
      AND NOT EXISTS (SELECT 1 FROM staged.exemptions e WHERE e.id_number = c.id_number
                      AND e.approved_on <= :end AND e.valid_until >= :end)
"""
