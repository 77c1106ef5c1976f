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


KEYLESS = {"registry": "coalesce(s.id_number, s.student_no)", "attendance": "coalesce(s.student_no, s.id_number)",
           "census": "s.id_number"}


def scope_sql(source: str) -> str:
    """The rows a check of ``source`` looks at: the current extract (for attendance, every current row of the
    files holding roll-call rows of the period, so rows whose date did not parse are seen too), plus the
    rows of those files that have no key at all (the ``*_current`` views leave them out)."""
    rel = CURRENT[source]
    cols = ", ".join(staged_columns(source))
    files = f"SELECT DISTINCT file_sha FROM {rel}"
    if source == "attendance":
        files += " WHERE date BETWEEN :start AND :end"
    head = f"SELECT {cols} FROM {rel}" + (f" WHERE file_sha IN ({files})" if source == "attendance" else "")
    return (f"{head} UNION ALL SELECT {cols} FROM staged.{source} s "
            f"WHERE {KEYLESS[source]} IS NULL AND s.file_sha IN ({files})")


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


def dq03_sql(source: str) -> str:
    """Rows with a missing required value, an unparseable value (``<col>_raw`` set, typed value NULL) or a
    code outside its value set — each naming file, row and column."""
    key = RECORD_KEY[source]
    parts = []
    for p in dq03_problems(source):
        first = p.column.split("|")[0]
        raw_col = f"{first}_raw" if f"{first}_raw" in staged_columns(source) else first
        shown = ("''" if first in _SENSITIVE_RAW
                 else f"coalesce(' [' || CAST(t.{raw_col} AS TEXT) || ']', '')")
        school = "t.school_code" if "school_code" in staged_columns(source) else "CAST(NULL AS TEXT)"
        detail = (f"'文件 ' || coalesce(f.original_name, t.file_sha) || coalesce(' 工作表「' || t.sheet || '」', '') "
                  f"|| ' 第' || CAST(t.row_no AS TEXT) || '行 列「"
                  f"{p.label}」({p.column}): {_PROBLEM_ZH[p.problem]} {p.problem}' || {shown}")
        parts.append(
            f"SELECT {key} AS record_key, {school} AS school_code, t.file_sha, t.row_no, {detail} AS detail, "
            f"{_sql_str(p.column)} AS col "
            f"FROM scope t LEFT JOIN raw.files f ON f.file_sha = t.file_sha AND f.source = {_sql_str(source)} "
            f"WHERE {p.condition}")
    # Problems the reader found in a row (an ID typed as a number, no township in the address): the message
    # already names file, sheet, row and column (kongchuo.readers, row_error).
    school = "t.school_code" if "school_code" in staged_columns(source) else "CAST(NULL AS TEXT)"
    parts.append(f"SELECT {key} AS record_key, {school} AS school_code, t.file_sha, t.row_no, t.row_error AS detail, "
                 f"'row_error' AS col FROM scope t WHERE t.row_error IS NOT NULL")
    return f"WITH scope AS ({scope_sql(source)}) " + " UNION ALL ".join(parts)


QUARANTINED_SQL = """
    SELECT CAST(NULL AS TEXT) AS record_key, CAST(NULL AS TEXT) AS school_code, file_sha,
           CAST(NULL AS INTEGER) AS row_no,
           '文件 ' || original_name || ' 已隔离：' || coalesce(error, '') AS detail
    FROM raw.files WHERE source = :source AND status = 'quarantined' AND run_id = :run_id
"""

# DQ01/DQ02 run in Python (kongchuo.idnumber) over chunks of this query.
ID_ROWS_SQL = """
    SELECT coalesce(t.student_no, t.id_number) AS record_key, t.school_code, t.file_sha, t.row_no,
           t.id_number, t.birth_date, t.gender
    FROM staged.registry_current t
    WHERE t.id_number IS NOT NULL
"""

DQ04_SQL = f"""
    WITH reg AS (
        SELECT record_key, person_key, school_code, file_sha, row_no
        FROM ({registry_persons_sql("t.status = 'active'")}) t
    ),
    multi AS (SELECT person_key FROM reg GROUP BY person_key HAVING count(*) > 1),
    dup AS (  -- DISTINCT aggregates only over the few persons with several records (27 s -> 3 s on 15M)
        SELECT person_key, count(*) AS n, count(DISTINCT school_code) AS schools,
               string_agg(DISTINCT school_code, '、' ORDER BY school_code) AS school_list
        FROM reg WHERE person_key IN (SELECT person_key FROM multi) GROUP BY person_key
    )
    SELECT r.record_key, r.school_code, r.file_sha, r.row_no,
           '同一人有 ' || CAST(d.n AS TEXT) || ' 条在读学籍（学校标识码：' || d.school_list || '）' AS detail
    FROM reg r JOIN dup d ON d.person_key = r.person_key
"""

# The person of a roll-call row and a person's active places (person key, school): the matching rule of
# warehouse.views (attendance_persons_sql, registry_persons_sql).
_ATT_PERSON = f"""
    att AS (SELECT * FROM {attendance_persons_sql("a.date BETWEEN :start AND :end")} ap),
    active AS (  -- only ever used in [NOT] EXISTS: no DISTINCT needed
        SELECT person_key, school_code FROM ({registry_persons_sql("t.status = 'active'")}) t
    )"""

DQ05_SQL = f"""
    WITH {_ATT_PERSON},
    seen AS (SELECT DISTINCT person_key, school_code FROM att)
    SELECT r.record_key, r.school_code, r.file_sha, r.row_no,
           '在读学籍，' || {period_label_sql(':period')} || '在本校无任何考勤记录' AS detail
    FROM ({registry_persons_sql("t.status = 'active'")}) r
    WHERE NOT EXISTS (
        SELECT 1 FROM seen WHERE seen.person_key = r.person_key AND seen.school_code = r.school_code)
"""

# DQ06 reads every attendance row of the period: in absence_only mode these are the absence rows (a child
# without rows is present, which says nothing about registration, so only absence rows can be checked).
DQ06_SQL = f"""
    WITH {_ATT_PERSON},
    unregistered AS (  -- filter before grouping: the anti-join is cheap, count(DISTINCT) over all roll call is not
        SELECT a.* FROM att a
        WHERE a.record_key IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM active WHERE active.person_key = a.person_key AND active.school_code = a.school_code)
    ),
    rows_ AS (
        SELECT record_key, person_key, school_code, count(*) AS n, count(DISTINCT date) AS days,
               min(file_sha) AS file_sha, min(row_no) AS row_no
        FROM unregistered GROUP BY record_key, person_key, school_code
    )
    SELECT record_key, school_code, file_sha, row_no,
           '在本校有考勤记录 ' || CAST(n AS TEXT) || ' 条（' || CAST(days AS TEXT)
           || ' 天），但本人在本校无在读学籍' AS detail
    FROM rows_ t
"""

AGE_GRADE_MIN, AGE_GRADE_MAX = 5, 8

DQ07_SQL = f"""
    WITH born AS MATERIALIZED (  -- school age from the birth date inside a valid ID, else birth_date (once a row)
        SELECT record_key, school_code, file_sha, row_no, grade, age_birth_date
        FROM ({registry_persons_sql("t.status = 'active' AND t.grade IS NOT NULL")}) t
    ),
    reg AS (
        SELECT t.record_key, t.school_code, t.file_sha, t.row_no, t.grade,
               :ref_year - CAST(EXTRACT(YEAR FROM t.age_birth_date) AS INTEGER)
               - CASE WHEN EXTRACT(MONTH FROM t.age_birth_date) * 100 + EXTRACT(DAY FROM t.age_birth_date) > :ref_md
                      THEN 1 ELSE 0 END AS age
        FROM born t WHERE t.age_birth_date IS NOT NULL
    )
    SELECT record_key, school_code, file_sha, row_no,
           '8月31日周岁 ' || CAST(age AS TEXT) || ' 岁，就读' || {grade_label_sql('grade')}
           || '（周岁减年级为 ' || CAST(age - grade AS TEXT) || '，应在{AGE_GRADE_MIN}至{AGE_GRADE_MAX}之间）' AS detail
    FROM reg WHERE age - grade NOT BETWEEN {AGE_GRADE_MIN} AND {AGE_GRADE_MAX}
"""

DQ08_SQL = """
    SELECT coalesce(t.student_no, t.id_number) AS record_key, t.school_code, t.file_sha, t.row_no,
           '学校标识码 ' || t.school_code || ' 不在参考数据（学校名录）中' AS detail
    FROM staged.registry_current t
    WHERE t.school_code IS NOT NULL AND NOT EXISTS (SELECT 1 FROM staged.schools s WHERE s.school_code = t.school_code)
    UNION ALL
    SELECT coalesce(t.student_no, t.id_number) AS record_key, t.school_code, t.file_sha, t.row_no,
           '乡镇代码 ' || t.township_code || ' 不在参考数据（乡镇名录）中' AS detail
    FROM staged.registry_current t
    WHERE t.township_code IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM staged.townships w WHERE w.township_code = t.township_code)
"""


def row_count_sql(source: str) -> str:
    """Rows of ``source`` for the period: the current snapshot, or the period's roll-call rows."""
    if source == "attendance":
        return "SELECT count(*) FROM staged.attendance_current WHERE date BETWEEN :start AND :end"
    return f"SELECT count(*) FROM {CURRENT[source]}"


ROW_COUNT_CHANGE = 0.10

# DQ10: the roll call must reach this close to the period's end (school holidays excepted).
COVERAGE_GAP_DAYS = 10
HOLIDAY_MONTHS = (1, 2, 7, 8)  # winter and summer holidays: roll calls legitimately stop early or are absent

COVERAGE_SQL = """
    SELECT min(date) AS first_day, max(date) AS last_day, count(DISTINCT school_code) AS schools,
           count(*) AS n
    FROM staged.attendance_current WHERE date BETWEEN :start AND :end
"""

# DQ10 in absence_only mode: the school calendar's school days in the period (the roll call cannot show them).
CALENDAR_COVERAGE_SQL = """
    SELECT min(date) AS first_day, max(date) AS last_day, count(DISTINCT date) AS n
    FROM staged.school_calendar WHERE date BETWEEN :start AND :end
"""
