"""The dropout and out-of-school rules of DESIGN.md: one statement per table in ``warehouse/sql/rules/``, and here
their bind parameters and the parts ``render`` fills in.

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
from warehouse.sql import render
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


# The rule statements live in warehouse/sql/rules/ (one statement per file, parts documented in each header);
# the person matching they share is written once in warehouse.views and filled in by ``render``.
SQL_FILES = ("rules/roster", "rules/suspected_dropouts", "rules/out_of_school")  # policies: code_version

ROSTER_SQL = render(
    "rules/roster", registry_persons=registry_persons_sql(),
    attendance_school_year=attendance_persons_sql("a.date <= :end AND a.date > CAST(:ref_date AS DATE)"))


def suspected_dropouts_sql(roster: str = "derived.roster") -> str:
    """The SD rules over the roster rows in ``roster`` (a table name, or a CTE name holding :data:`ROSTER_SQL`)."""
    return render("rules/suspected_dropouts", roster=roster, age_on_end=age_sql("birth_date", "CAST(:end AS DATE)"))


SUSPECTED_DROPOUTS_SQL = suspected_dropouts_sql()

OUT_OF_SCHOOL_SQL = render(
    "rules/out_of_school", g_number_id=g_number_id_sql("t.student_no"), id_valid=valid_id_sql("t.id_number"),
    census_birth=census_birth_sql("c"), age_on_ref_date=age_sql("c.birth_date", "CAST(:ref_date AS DATE)"))
