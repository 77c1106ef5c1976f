"""R7 每日预警: a child's unexplained absence is on the school's list the day it reaches the threshold.

Daily partitions (``2026-10-20``, Asia/Shanghai). For a school day D, from the roll call as of D
(``staged.attendance_current``; every child matched to a person by the one matching rule of
:mod:`warehouse.views`), one row per child and reason in ``derived.early_warnings``:

- ``consecutive`` 连续旷课: the child's unexcused school days in a row, ending on D, reach SD1's
  ``consecutive_days`` (a school's school days are the dates it has roll-call rows, weekends skipped and make-up
  Saturdays counted; in absence-only mode the school calendar's days). ``first_seen`` is the day the streak
  reached the threshold: the child is listed on that day (新增) and on each later day the streak goes on (持续),
  never before and never after it breaks;
- ``monthly`` 本月累计旷课: the child's unexcused days in D's month up to D reach SD1's ``monthly_days`` and D is
  one of them (first listed the day the count is reached);
- ``open_case`` 在案学生再次旷课: a child with an open case (persuading, escalated or returned, as the ledger
  last recorded it) is absent without leave on D; ``first_seen`` is the first day of that absence.
Approved leave (病假/事假) never warns; a child present at any school on D is not listed; a deferral or
suspension in force on D, and death, exclude. Thresholds are :class:`assets.rules.RuleConfig`, the same
configuration as SD1. The computation only reads the roll call up to D, so a backfill of a range of days
gives every day the list it had, whatever order the days are run in.

The landing sensor ingests a day's roll-call file (``ingest_job``); :data:`daily_after_ingest` then asks for
the day partitions of the school days the new files hold (up to today).
"""

# No postponed annotations: Dagster reads the config and context types of the asset functions.
import datetime as dt
from pathlib import Path
from typing import Any

import dagster as dg
import sqlalchemy as sa

from assets.common import OWNERS, table_schema
from assets.report_files import current_district, file_part
from assets.rules import RuleConfig, mode_params
from kongchuo.districts import district_name
from kongchuo.excel import Sheet, write_workbook
from kongchuo.masking import mask_id, preview_markdown
from kongchuo.reports_catalog import REPORT_NAMES
from warehouse.home import KongchuoHome
from warehouse.partitions import daily_partitions
from warehouse.pools import WAREHOUSE_POOL
from warehouse.resource import WarehouseResource
from warehouse.views import attendance_persons_sql, first_records_sql, registry_persons_sql

EARLY_WARNINGS = dg.AssetKey(["derived", "early_warnings"])
R7 = dg.AssetKey(["reports", "r7_daily"])
REPORT_ID = "R7"
TITLE = REPORT_NAMES[REPORT_ID]
LOOKBACK_DAYS = 62  # a streak is followed back this far (two months of school days is beyond any threshold)
REASONS = {"consecutive": "连续旷课", "monthly": "本月累计旷课", "open_case": "在案学生再次旷课"}
OPEN_STATES = ("persuading", "escalated", "returned")

def _absence_ctes(lo: str, hi: str) -> str:
    """The roll call from ``lo`` to ``hi`` (SQL date expressions) matched to persons, each school's school days
    numbered, and the unexcused rows on them: what a streak is counted over. Written once for R7 (as of a day)
    and for the day a month's SD1 was reached (:data:`SD1_REACHED_SQL`, the ledger's suspected date)."""
    return f"""ap AS {attendance_persons_sql(f"a.date BETWEEN {lo} AND {hi}")},
    schools AS (SELECT DISTINCT school_code FROM ap WHERE school_code IS NOT NULL),
    days AS (  -- school days: the roll call's dates (rollcall) or the school calendar (absence_only)
        SELECT DISTINCT school_code, date FROM ap WHERE :absence_only = 0
        UNION
        SELECT s.school_code, c.date FROM schools s JOIN staged.school_calendar c ON c.school_code = s.school_code
        WHERE :absence_only = 1 AND c.date BETWEEN {lo} AND {hi}
        UNION
        SELECT s.school_code, c.date FROM schools s CROSS JOIN staged.school_calendar c
        WHERE :absence_only = 1 AND c.school_code IS NULL AND c.date BETWEEN {lo} AND {hi}
          AND NOT EXISTS (SELECT 1 FROM staged.school_calendar o WHERE o.school_code = s.school_code)
    ),
    numbered AS (SELECT school_code, date, row_number() OVER (PARTITION BY school_code ORDER BY date) AS day_no
                 FROM days),
    absent AS (
        SELECT DISTINCT a.person_key, a.school_code, a.date, n.day_no
        FROM ap a JOIN numbered n ON n.school_code = a.school_code AND n.date = a.date
        WHERE a.status = 'unexcused'
    )"""


# The school day of the month (:start .. :end) on which each child's SD1 was first reached, as R7 dates it: the
# N-th day of an unexcused streak (``consecutive``: the streak's first_seen), or the day the month's unexcused
# days reached M (``monthly``). A streak is followed back LOOKBACK_DAYS before the month, like R7's.
SD1_REACHED_SQL = f"""
    WITH {_absence_ctes(f"CAST(:start AS DATE) - {LOOKBACK_DAYS}", "CAST(:end AS DATE)")},
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
"""

WARNINGS_SQL = f"""
    WITH {_absence_ctes(":from_date", ":d")},
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
    cases AS (
        SELECT person_key FROM (
            SELECT person_key, to_state,
                   row_number() OVER (PARTITION BY person_key ORDER BY created_for_period DESC, event_seq DESC) AS rn
            FROM ledger.case_events WHERE created_for_period <= :month) e
        WHERE rn = 1 AND to_state IN ({", ".join(f"'{s}'" for s in OPEN_STATES)})
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
"""

IDENTITY_SQL = f"""
    SELECT person_key, id_number, student_no, name, class_name, guardian_phone, grade, school_code FROM (
        {first_records_sql("p.person_key IN (SELECT person_key FROM derived.early_warnings WHERE date = :day)")}) x
"""


def warning_params(day: dt.date, config: RuleConfig, attendance_mode: str) -> dict[str, Any]:
    return {"d": day, "from_date": day - dt.timedelta(days=LOOKBACK_DAYS), "month_start": day.replace(day=1),
            "month": day.strftime("%Y-%m"), **config.params(), **mode_params(attendance_mode)}


def compute_warnings(warehouse: WarehouseResource, day: dt.date, config: RuleConfig, attendance_mode: str) -> int:
    """Replace ``derived.early_warnings`` of ``day`` (idempotent); returns its row count."""
    text = day.isoformat()
    with warehouse.begin() as conn:
        conn.execute(sa.text("DELETE FROM derived.early_warnings WHERE date = :day"), {"day": text})
        conn.execute(sa.text(f"""
            INSERT INTO derived.early_warnings (period, date, person_key, id_number, student_no, school_code,
                                                township_code, reason, days_absent, first_seen, continuing)
            SELECT :day, :day, w.person_key, r.id_number, r.student_no, w.school_code, s.township_code, w.reason,
                   w.days_absent, w.first_seen, w.first_seen < :d
            FROM ({WARNINGS_SQL}) w
            LEFT JOIN (SELECT person_key, min(id_number) AS id_number, min(student_no) AS student_no
                       FROM ({registry_persons_sql()}) t GROUP BY person_key) r ON r.person_key = w.person_key
            LEFT JOIN staged.schools s ON s.school_code = w.school_code"""),
                     {"day": text, **warning_params(day, config, attendance_mode)})
    return int(warehouse.scalar("SELECT count(*) FROM derived.early_warnings WHERE date = :day", {"day": text}))


@dg.asset(pool=WAREHOUSE_POOL, key=EARLY_WARNINGS, group_name="daily", owners=OWNERS,
          partitions_def=daily_partitions, kinds={"duckdb", "sql"}, code_version="1",
          deps=[dg.AssetKey(["staged", "attendance"]), dg.AssetKey(["staged", "registry"]),
                dg.AssetKey(["ledger", "case_events"])])
def early_warnings(context: dg.AssetExecutionContext, config: RuleConfig, home: KongchuoHome,
                   warehouse: WarehouseResource) -> dg.MaterializeResult:
    """每日预警 Daily early warning: children whose unexcused absences reach SD1's threshold on this school day
    (consecutive days, or the month's count), and children with an open case absent without leave again."""
    day = dt.date.fromisoformat(context.partition_key)
    n = compute_warnings(warehouse, day, config, home.attendance_mode)
    sample = warehouse.query_df("SELECT school_code, reason, days_absent, first_seen, continuing "
                                "FROM derived.early_warnings WHERE date = :day ORDER BY school_code LIMIT 10",
                                {"day": day.isoformat()})
    return dg.MaterializeResult(metadata={
        "dagster/row_count": n, "date": day.isoformat(), "dagster/table_name": "derived.early_warnings",
        "dagster/column_schema": table_schema("derived.early_warnings"),
        "preview": dg.MetadataValue.md(preview_markdown(sample))})


def day_label(day: dt.date) -> str:
    return f"{day.year}年{day.month:02d}月{day.day:02d}日"


def _action(reasons: set[str]) -> str:
    base = "当日家访，三日内报中心校"
    return base + "；在案学生，同时报劝返责任人" if "open_case" in reasons else base


def r7_sheets(warehouse: WarehouseResource, day: dt.date) -> list[tuple[str, str, str, Sheet]]:
    """(school code, township code, school name, sheet) of every school with warnings on ``day``."""
    text = day.isoformat()
    rows = warehouse.query_df(
        "SELECT w.person_key, w.school_code, w.township_code, w.reason, w.days_absent, w.first_seen, w.continuing, "
        "s.school_name FROM derived.early_warnings w LEFT JOIN staged.schools s ON s.school_code = w.school_code "
        "WHERE w.date = :day ORDER BY w.school_code, w.person_key, w.reason", {"day": text})
    who = warehouse.query_df(IDENTITY_SQL, {"day": text}).set_index("person_key")
    out = []
    for school_code, group in rows.groupby("school_code", sort=True):
        body = []
        for i, (person, p) in enumerate(group.groupby("person_key", sort=True), start=1):
            w = who.loc[person] if person in who.index else None
            reasons = set(p["reason"])
            days = int(p["days_absent"].max())
            first = min(p["first_seen"])
            status = "持续" if bool(p["continuing"].all()) else "新增"
            body.append([i, _text(w, "name"), mask_id(_text(w, "id_number") or person), _text(w, "class_name"),
                         _text(w, "guardian_phone"), "、".join(REASONS[r] for r in REASONS if r in reasons), days,
                         str(first)[:10], status, _action(reasons)])
        name = str(group["school_name"].iloc[0] or school_code)
        sheet = Sheet(name="预警名单", title=f"{name}{day_label(day)}{TITLE}",
                      subtitle_lines=[f"学校标识码：{school_code}    预警日期：{day_label(day)}    "
                                      f"标准：连续旷课满3个上课日或本月累计旷课满10天；在案学生再次旷课"],
                      headers=["序号", "姓名", "身份证件号", "班级", "监护人电话", "预警原因", "旷课天数",
                               "首次预警日期", "状态", "处置要求"],
                      rows=body, totals=["合计", f"{len(body)}人", "", "", "", "", "", "", "", ""],
                      footer_lines=["班主任：                学校负责人：                家访时间："],
                      widths=[6, 10, 22, 12, 14, 22, 9, 13, 7, 30])
        out.append((str(school_code), str(group["township_code"].iloc[0] or ""), name, sheet))
    return out


def _text(row, col: str) -> str:
    if row is None:
        return ""
    value = row[col]
    return "" if value is None or (isinstance(value, float) and value != value) else str(value)


def write_r7(home: KongchuoHome, warehouse: WarehouseResource, day: dt.date) -> list[dict[str, Any]]:
    """One workbook per school with warnings, under ``reports/<YYYY-MM-DD>/``; files of schools no longer listed
    on a re-run are removed (they were this asset's own)."""
    folder = home.reports(day.isoformat())
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    district = file_part(district_name(current_district(warehouse)))
    for school_code, township_code, name, sheet in r7_sheets(warehouse, day):
        # <地区>_<日期>_<名称>_<学校>_<学校标识码>: the reports' naming, the code keeps school names unique
        path = folder / f"{district}_{day_label(day)}_{TITLE}_{file_part(name)}_{school_code}.xlsx"
        files.append({"path": str(path), "sha256": write_workbook(path, [sheet]), "school_code": school_code,
                      "township_code": township_code, "report": REPORT_ID})
    keep = {Path(f["path"]).name for f in files}
    for old in folder.glob(f"*_{TITLE}_*.xlsx"):
        if old.name not in keep:
            old.unlink()
    return files


@dg.asset(pool=WAREHOUSE_POOL, key=R7, deps=[EARLY_WARNINGS, dg.AssetKey(["staged", "reference"])],
          group_name="daily", owners=OWNERS, partitions_def=daily_partitions, kinds={"excel"}, code_version="1")
def r7_daily(context: dg.AssetExecutionContext, home: KongchuoHome,
             warehouse: WarehouseResource) -> dg.MaterializeResult:
    """R7 每日预警名单 Daily early-warning list, one workbook per school: masked ID, name, class, guardian phone,
    days absent and what to do (当日家访、三日内报中心校)."""
    day = dt.date.fromisoformat(context.partition_key)
    files = write_r7(home, warehouse, day)
    return dg.MaterializeResult(metadata={
        "files": dg.MetadataValue.json(files), "schools": len(files), "date": day.isoformat(),
        "folder": dg.MetadataValue.path(str(home.reports(day.isoformat())))})


daily_assets = [early_warnings, r7_daily]


def new_school_days(warehouse: WarehouseResource, run_id: str, today: dt.date) -> list[str]:
    """The days (up to ``today``) that the roll-call files ingested by ``run_id`` hold, as day partition keys."""
    df = warehouse.query_df(
        "SELECT DISTINCT a.date FROM staged.attendance a JOIN raw.files f ON f.file_sha = a.file_sha "
        "WHERE f.run_id = :run AND f.status = 'ingested' AND a.date <= :today ORDER BY a.date",
        {"run": run_id, "today": today})
    return [str(d)[:10] for d in df["date"]]

