"""One small, portable SQL per rule (DuckDB and PostgreSQL), run in the warehouse.

Every finding query selects the columns of ``checks.findings`` that a rule knows:
``record_key, school_code, file_sha, row_no, detail`` (``detail`` never holds a name or an ID number).
Keys follow :mod:`assets.rules`: a registry record's key is ``coalesce(student_no, id_number)``; persons
(DQ04–DQ07) follow the one matching rule of :mod:`warehouse.views` (valid ID, else the ID inside a ``G``
number; a roll-call row's person by its ID, else through its student number).
Bind parameters: ``:period``, ``:start``, ``:end``, ``:run_id``,
``:source``, ``:ref_year``, ``:ref_md`` (month * 100 + day of the school-age reference date).
"""

from __future__ import annotations

from dataclasses import dataclass

from kongchuo.labels import grade_label_sql, period_label_sql
from kongchuo.sources import SPECS
from warehouse.layout import staged_columns
from warehouse.sql import load, render
from warehouse.views import attendance_persons_sql, registry_persons_sql

CURRENT = {"registry": "staged.registry_current", "attendance": "staged.attendance_current",
           "census": "staged.census_current"}

RECORD_KEY = {"registry": "coalesce(t.student_no, t.id_number)",
              "attendance": "coalesce(t.student_no, t.id_number)",
              "census": "t.id_number"}

# Canonical value sets of coded columns (kongchuo.sources vocabularies, canonical side).
VALUE_SETS: dict[tuple[str, str], tuple[str, ...]] = {
    (src, col.name): tuple(sorted({v for v in col.vocabulary.values() if isinstance(v, str)}))
    for src, spec in SPECS.items() for col in spec.columns if col.kind == "code"
}
GRADE_RANGE = (1, 9)
# Raw values of these columns may identify a child: never copied into a finding's detail.
_SENSITIVE_RAW = {"id_number", "name", "guardian_name", "guardian_phone", "student_no"}


def scope_sql(source: str) -> str:
    """The rows a check of ``source`` looks at (``checks/scope_<source>.sql``): the current extract (for attendance,
    every current row of the files holding roll-call rows of the period, so rows whose date did not parse are seen
    too), plus the rows of those files that have no key at all (the ``*_current`` tables leave them out)."""
    return render(f"checks/scope_{_known(source)}", columns=", ".join(staged_columns(source)))


def _known(source: str) -> str:
    """``source`` if it is one of the fixed sources (its name becomes part of a SQL file name or statement)."""
    if source not in CURRENT:
        raise ValueError(f"not a checked source: {source!r}")
    return source


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True)
class Dq03Problem:
    column: str
    label: str
    problem: str  # missing | unparseable | not_in_set | out_of_range
    condition: str


def dq03_problems(source: str) -> list[Dq03Problem]:
    spec = SPECS[source]
    cols = set(staged_columns(source))
    out: list[Dq03Problem] = []
    for name in spec.required:
        raw = f"{name}_raw"
        cond = f"t.{name} IS NULL" + (f" AND t.{raw} IS NULL" if raw in cols else "")
        out.append(Dq03Problem(name, spec.column(name).label, "missing", cond))
    if spec.one_of:
        cond = " AND ".join(f"t.{c} IS NULL" for c in spec.one_of)
        label = "/".join(spec.column(c).label for c in spec.one_of)
        out.append(Dq03Problem("|".join(spec.one_of), label, "missing", cond))
    for col in spec.columns:
        raw = f"{col.name}_raw"
        if raw in cols and col.name not in ("id_number",):
            out.append(Dq03Problem(col.name, col.label, "unparseable", f"t.{raw} IS NOT NULL AND t.{col.name} IS NULL"))
        if col.kind == "code" and (source, col.name) in VALUE_SETS and VALUE_SETS[(source, col.name)]:
            values = ", ".join(_sql_str(v) for v in VALUE_SETS[(source, col.name)])
            out.append(Dq03Problem(col.name, col.label, "not_in_set", f"t.{col.name} NOT IN ({values})"))
    if source == "registry":
        lo, hi = GRADE_RANGE
        out.append(Dq03Problem("grade", "年级", "out_of_range", f"t.grade NOT BETWEEN {lo} AND {hi}"))
    return out


_PROBLEM_ZH = {"missing": "必填值缺失", "unparseable": "无法识别的值", "not_in_set": "代码不在取值范围内",
               "out_of_range": "超出取值范围"}


def _school(source: str) -> str:
    return "t.school_code" if "school_code" in staged_columns(source) else "CAST(NULL AS TEXT)"


def dq03_sql(source: str) -> str:
    """Rows with a missing required value, an unparseable value (``<col>_raw`` set, typed value NULL) or a
    code outside its value set — each naming file, row and column (``checks/dq03.sql``, one
    ``checks/dq03_problem.sql`` per problem of the source's column specification)."""
    key, school, columns = RECORD_KEY[_known(source)], _school(source), staged_columns(source)
    problems = []
    for p in dq03_problems(source):
        first = p.column.split("|")[0]
        raw_col = f"{first}_raw" if f"{first}_raw" in columns else first
        shown = "''" if first in _SENSITIVE_RAW else f"coalesce(' [' || CAST(t.{raw_col} AS TEXT) || ']', '')"
        problems.append(render("checks/dq03_problem", record_key=key, school=school, shown=shown,
                               message=f"列「{p.label}」({p.column}): {_PROBLEM_ZH[p.problem]} {p.problem}",
                               column_name=p.column, condition=p.condition))
    return render("checks/dq03", scope=scope_sql(source), problems="\nUNION ALL\n".join(problems),
                  record_key=key, school=school)


# The statements live in warehouse/sql/checks/ (one per file); the person matching they share is written once in
# warehouse.views and filled in by ``render``. Per source, only identifiers (the source's tables and columns, from
# the fixed CURRENT and warehouse.layout) and DQ03's problem conditions (from its column specification,
# kongchuo.sources) are filled in; values are bind parameters.
_ACTIVE = registry_persons_sql("t.status = 'active'")
_ATTENDANCE = attendance_persons_sql("a.date BETWEEN :start AND :end")

QUARANTINED_SQL = load("checks/quarantined")
ID_ROWS_SQL = load("checks/id_rows")  # DQ01/DQ02 run in Python (kongchuo.idnumber) over chunks of this query
DQ04_SQL = render("checks/dq04_duplicate_registry", registry_persons_active=_ACTIVE)
DQ05_SQL = render("checks/dq05_no_attendance", attendance_period=_ATTENDANCE, registry_persons_active=_ACTIVE,
                  period_label=period_label_sql(":period"))
DQ06_SQL = render("checks/dq06_unregistered", attendance_period=_ATTENDANCE, registry_persons_active=_ACTIVE)
DQ07_SQL = render("checks/dq07_age_grade", grade_label=grade_label_sql("grade"),
                  registry_persons_active_graded=registry_persons_sql("t.status = 'active' AND t.grade IS NOT NULL"))
DQ08_SQL = load("checks/dq08_reference")
REGISTRY_IDS_SQL = load("checks/registry_ids")  # DQ01's Great Expectations suite
REGISTRY_ROWS_SQL = load("checks/registry_rows")  # DQ10


def row_count_sql(source: str) -> str:
    """Rows of ``source`` for the period: the current snapshot, or the period's roll-call rows."""
    if _known(source) == "attendance":
        return load("checks/row_count_attendance")
    return render("checks/row_count", current=CURRENT[source])


ROW_COUNT_CHANGE = 0.10

# DQ10: the roll call must reach this close to the period's end (school holidays excepted).
COVERAGE_GAP_DAYS = 10
HOLIDAY_MONTHS = (1, 2, 7, 8)  # winter and summer holidays: roll calls legitimately stop early or are absent

COVERAGE_SQL = load("checks/coverage")
# DQ10 in absence_only mode: the school calendar's school days in the period (the roll call cannot show them).
CALENDAR_COVERAGE_SQL = load("checks/calendar_coverage")
SQL_FILES = ("checks/quarantined", "checks/id_rows", "checks/dq04_duplicate_registry", "checks/dq05_no_attendance",
             "checks/dq06_unregistered", "checks/dq07_age_grade", "checks/dq08_reference", "checks/coverage",
             "checks/calendar_coverage", "checks/registry_ids", "checks/registry_rows", "checks/scope_registry",
             "checks/scope_census", "checks/scope_attendance", "checks/row_count", "checks/row_count_attendance",
             "checks/dq03", "checks/dq03_problem")
