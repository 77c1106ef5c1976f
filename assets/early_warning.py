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
from typing import Any

import dagster as dg
import pandas as pd
import sqlalchemy as sa

from assets.common import OWNERS, table_schema
from assets.report_files import file_part
from assets.report_skeleton import Built, ReportRun, ReportSpec, cell_text, period_files, register_report
from assets.rules import RuleConfig, mode_params
from kongchuo.excel import Sheet
from kongchuo.masking import mask_id, preview_markdown
from kongchuo.reports_catalog import REPORT_NAMES
from warehouse import sql
from warehouse.home import KongchuoHome
from warehouse.partitions import daily_partitions
from warehouse.pools import WAREHOUSE_POOL
from warehouse.resource import WarehouseResource
from warehouse.views import attendance_persons_sql, registry_persons_sql

EARLY_WARNINGS = dg.AssetKey(["derived", "early_warnings"])
R7 = dg.AssetKey(["reports", "r7_daily"])
REPORT_ID = "R7"
TITLE = REPORT_NAMES[REPORT_ID]
LOOKBACK_DAYS = 62  # a streak is followed back this far (two months of school days is beyond any threshold)
REASONS = {"consecutive": "连续旷课", "monthly": "本月累计旷课", "open_case": "在案学生再次旷课"}

SQL_FILES = ("daily/school_days", "daily/absent", "daily/sd1_reached", "daily/warnings", "daily/insert_warnings",
             "daily/identity", "matching/first_records")  # policies: code_version


def absence_parts(lo: str, hi: str, present_on: str | None = None) -> dict[str, str]:
    """The parts a streak is counted over (daily/school_days, daily/absent): the roll call from ``lo`` to ``hi``
    (SQL date expressions of bind parameters) matched to persons, each school's school days numbered, and the
    unexcused rows on them. The same for R7 (as of a day) and for the day a month's SD1 was reached
    (:data:`SD1_REACHED_SQL`, the ledger's suspected date).

    Only unexcused rows (and, with ``present_on``, that day's present rows, which clear a child) are matched to
    persons: in rollcall mode nearly every row is a present child, and matching them all would be most of the
    work. A school's school days come from all its rows, unmatched."""
    window = f"a.date BETWEEN {lo} AND {hi}"
    present = f" OR (a.date = {present_on} AND a.status = 'present')" if present_on else ""
    window_rows = f"(SELECT a.school_code, a.date FROM staged.attendance_current a WHERE {window})"
    return {"attendance_persons": attendance_persons_sql(f"{window} AND (a.status = 'unexcused'{present})"),
            "school_days": sql.render("daily/school_days", attendance_window=window_rows, lo=lo, hi=hi),
            "absent": sql.render("daily/absent", ap="ap", numbered="numbered")}


def maybe_persons(keys: str) -> str:
    """A condition on the registry record ``t``: its person can be one of ``keys`` (a query of person keys). The
    matching rule takes a record's person from its ID, its student number or the ID inside its ``G`` number, so
    only records with one of those among the keys need the person-key expression (R7 labels a few children, the
    registry holds every child)."""
    return (f"(t.id_number IN ({keys}) OR t.student_no IN ({keys}) "
            f"OR (substr(t.student_no, 1, 1) = 'G' AND substr(t.student_no, 2) IN ({keys})))")


# A streak is followed back LOOKBACK_DAYS before the month, like R7's.
SD1_REACHED_SQL = sql.render("daily/sd1_reached",
                             **absence_parts(f"CAST(:start AS DATE) - {LOOKBACK_DAYS}", "CAST(:end AS DATE)"))
WARNINGS_SQL = sql.render("daily/warnings", **absence_parts(":from_date", ":d", present_on=":d"))
INSERT_SQL = sql.render("daily/insert_warnings", warnings=WARNINGS_SQL,
                        registry_persons=registry_persons_sql(maybe_persons("SELECT person_key FROM w")))
_WARNED = "SELECT person_key FROM derived.early_warnings WHERE date = :day"
IDENTITY_SQL = sql.render("daily/identity", first_records=sql.render(
    "matching/first_records", registry_persons=registry_persons_sql(maybe_persons(_WARNED)),
    persons=f"p.person_key IN ({_WARNED})"))


def warning_params(day: dt.date, config: RuleConfig, attendance_mode: str) -> dict[str, Any]:
    return {"d": day, "from_date": day - dt.timedelta(days=LOOKBACK_DAYS), "month_start": day.replace(day=1),
            "month": day.strftime("%Y-%m"), **config.params(), **mode_params(attendance_mode)}


def compute_warnings(warehouse: WarehouseResource, day: dt.date, config: RuleConfig, attendance_mode: str) -> int:
    """Replace ``derived.early_warnings`` of ``day`` (idempotent); returns its row count."""
    text = day.isoformat()
    with warehouse.begin() as conn:
        conn.execute(sa.text("DELETE FROM derived.early_warnings WHERE date = :day"), {"day": text})
        conn.execute(sa.text(INSERT_SQL),
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


def r7_people(warehouse: WarehouseResource, day: dt.date) -> pd.DataFrame:
    """One row per (school, warned child) of ``day``, ordered by school and person: the child's reasons (a set),
    most days absent, first day warned, whether every reason continues a streak, and who the child is (name, ID,
    class, guardian phone: ``daily/identity``). Aggregated by column, not child by child: a province's day lists
    tens of thousands of children in thousands of schools."""
    text = day.isoformat()
    rows = warehouse.query_df(
        "SELECT w.person_key, w.school_code, w.township_code, w.reason, w.days_absent, w.first_seen, w.continuing, "
        "s.school_name FROM derived.early_warnings w LEFT JOIN staged.schools s ON s.school_code = w.school_code "
        "WHERE w.date = :day ORDER BY w.school_code, w.person_key, w.reason", {"day": text})
    if rows.empty:
        return rows
    keys = ["school_code", "person_key"]
    grouped = rows.groupby(keys, sort=True)
    people = pd.DataFrame({"days": grouped["days_absent"].max(), "first": grouped["first_seen"].min(),
                           "continuing": grouped["continuing"].all(),
                           "reasons": grouped["reason"].agg(frozenset)}).reset_index()
    # the school's name and township as its first row has them (ordered by person and reason)
    school = rows.groupby("school_code", sort=True).nth(0).set_index("school_code")[["school_name", "township_code"]]
    people = people.join(school, on="school_code")
    who = warehouse.query_df(IDENTITY_SQL, {"day": text}).set_index("person_key")
    return people.join(who[["name", "id_number", "class_name", "guardian_phone"]], on="person_key")


def r7_sheets(warehouse: WarehouseResource, day: dt.date) -> list[tuple[str, str, str, Sheet]]:
    """(school code, township code, school name, sheet) of every school with warnings on ``day``."""
    people = r7_people(warehouse, day)
    out = []
    if people.empty:
        return out
    starts = people.index[people["school_code"] != people["school_code"].shift()].tolist() + [len(people)]
    records = people.to_dict("records")
    for lo, hi in zip(starts, starts[1:]):
        body = []
        for i, p in enumerate(records[lo:hi], start=1):
            reasons = p["reasons"]
            body.append([i, cell_text(p["name"]), mask_id(cell_text(p["id_number"]) or p["person_key"]),
                         cell_text(p["class_name"]), cell_text(p["guardian_phone"]),
                         "、".join(REASONS[r] for r in REASONS if r in reasons), int(p["days"]),
                         str(p["first"])[:10], "持续" if bool(p["continuing"]) else "新增", _action(reasons)])
        first = records[lo]
        school_code = first["school_code"]
        name = cell_text(first["school_name"]) or str(school_code)
        sheet = Sheet(name="预警名单", title=f"{name}{day_label(day)}{TITLE}",
                      subtitle_lines=[f"学校标识码：{school_code}    预警日期：{day_label(day)}    "
                                      f"标准：连续旷课满3个上课日或本月累计旷课满10天；在案学生再次旷课"],
                      headers=["序号", "姓名", "身份证件号", "班级", "监护人电话", "预警原因", "旷课天数",
                               "首次预警日期", "状态", "处置要求"],
                      rows=body, totals=["合计", f"{len(body)}人", "", "", "", "", "", "", "", ""],
                      footer_lines=["班主任：                学校负责人：                家访时间："],
                      widths=[6, 10, 22, 12, 14, 22, 9, 13, 7, 30])
        out.append((str(school_code), cell_text(first["township_code"]), name, sheet))
    return out


def build_r7(run: ReportRun) -> Built:
    """One workbook per school with warnings, under ``reports/<YYYY-MM-DD>/`` (files of schools no longer listed
    on a re-run are removed: they were this asset's own)."""
    day = dt.date.fromisoformat(run.period)
    folder = run.home.reports(run.period)
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    district = file_part(run.district())
    for school_code, township_code, name, sheet in r7_sheets(run.warehouse, day):
        # <地区>_<日期>_<名称>_<学校>_<学校标识码>: the reports' naming, the code keeps school names unique
        path = folder / f"{district}_{day_label(day)}_{TITLE}_{file_part(name)}_{school_code}.xlsx"
        files.append(run.write([sheet], path, school_code=school_code, township_code=township_code,
                               report=REPORT_ID))
    return Built(files, len(files), {"schools": len(files), "date": day.isoformat(),
                                     "folder": dg.MetadataValue.path(str(folder))})


R7_SPEC = ReportSpec(
    REPORT_ID, R7,
    audience="school",
    description="""R7 每日预警名单 Daily early-warning list, one workbook per school: masked ID, name, class, guardian phone,
    days absent and what to do (当日家访、三日内报中心校).""",
    deps=[EARLY_WARNINGS, dg.AssetKey(["staged", "reference"])], build=build_r7, partitions_def=daily_partitions,
    group_name="daily", kinds=frozenset({"excel"}), listing="files", sources=False, file_counts=False,
    drafts=False, stale_files=lambda run: period_files(run, f"*_{TITLE}_*.xlsx"))
r7_daily = register_report(R7_SPEC, __name__)



def new_school_days(warehouse: WarehouseResource, run_id: str, today: dt.date) -> list[str]:
    """The days (up to ``today``) that the roll-call files ingested by ``run_id`` hold, as day partition keys."""
    df = warehouse.query_df(
        "SELECT DISTINCT a.date FROM staged.attendance a JOIN raw.files f ON f.file_sha = a.file_sha "
        "WHERE f.run_id = :run AND f.status = 'ingested' AND a.date <= :today ORDER BY a.date",
        {"run": run_id, "today": today})
    return [str(d)[:10] for d in df["date"]]

