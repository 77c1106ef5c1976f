"""R2 控辍保学排查整改工作情况统计表 (附件2): the quarterly statistics table, one row per township.

Columns: school-age children on the household register, enrolled among them, enrolment rate; suspected
dropouts of the quarter by stage (小学/初中; 九年一贯制 by grade 1–6 / 7–9) and by priority group (脱贫家庭/
建档立卡, 留守, 流动/随迁, 残疾, 困境); children persuaded back by stage; out-of-school children, 外出 to
verify, children still out; remarks. Every count is ``count(DISTINCT case_key)`` of ``reports.cells``
(report 'R2'), so each number drills down to the children behind it; the rate is enrolled / school-age of
the same cells. Data window: the quarter up to its cut-off (see :mod:`assets.quarterly`). Rows: the
townships of the district(s) in the data (registry and census township codes), not of every district the
reference data covers.
"""


import dagster as dg

from assets.derived import STAGED
from assets.quarterly import (
    DATA_TOWNSHIPS_SQL,
    QUARTERLY_SUSPECTED,
    TOWNSHIP_PEOPLE_SQL,
    TOWNSHIP_RATES,
    quarter_params,
)
from assets.report_files import cell_counts
from assets.report_skeleton import Built, ReportRun, ReportSpec, register_report
from assets.rules import RuleConfig
from kongchuo.districts import month_label
from kongchuo.excel import Sheet
from kongchuo.reports_catalog import R2_COLUMNS, R2_PRIORITY, R2_PRIORITY_FLAGS, REPORT_NAMES
from warehouse import sql
from warehouse.partitions import quarterly_partitions
from warehouse.resource import WarehouseResource
from warehouse.views import REGISTRY_PERSON_KEY_R, first_records_sql

R2 = dg.AssetKey(["reports", "quarterly", "r2_statistics"])
REPORT_ID = "R2"
TITLE = REPORT_NAMES[REPORT_ID]
ROW_PREFIX = "township:"  # the row keys of reports.cells (r2_cells.sql)

COLUMNS = R2_COLUMNS
PRIORITY = R2_PRIORITY
COUNT_KEYS = [k for k, _, _ in COLUMNS if k != "rate"]
_CENSUS_FLAGS = ("is_poverty_family", "is_disabled")  # the flags the census also carries

_NO_ROW = "SELECT 1 WHERE FALSE"  # a flag the census does not carry
_PRIORITY_SQL = "\nUNION ALL\n".join(
    sql.render("reports/r2_priority", key=key, flag=flag, person_key=REGISTRY_PERSON_KEY_R,
               census=sql.render("reports/r2_priority_census", flag=flag) if flag in _CENSUS_FLAGS else _NO_ROW)
    for key, flag in R2_PRIORITY_FLAGS.items())
# the record each child with persuasion attempts is filed under (matching/first_records), for township and stage
_FILED = first_records_sql("p.person_key IN (SELECT id_number FROM tries) "
                           "OR p.person_key IN (SELECT id_number FROM all_tries)")
CELLS_PARTS = {"people": TOWNSHIP_PEOPLE_SQL, "first_records": _FILED, "priority": _PRIORITY_SQL}
SQL_FILES = ("reports/r2_cells", "reports/r2_priority", "reports/r2_priority_census", "matching/first_records")  # policies: code_version
CELLS_SQL = sql.render("reports/r2_cells", **CELLS_PARTS)


def _rate(enrolled: int, school_age: int) -> float | str:
    return round(100.0 * enrolled / school_age, 2) if school_age else "—"


def r2_rows(warehouse: WarehouseResource, quarter: str) -> tuple[list[list], list]:
    counts = cell_counts(warehouse, quarter, REPORT_ID)
    towns = warehouse.query_df(f"SELECT township_code, township_name FROM ({DATA_TOWNSHIPS_SQL}) t ORDER BY township_code")
    names = dict(zip(towns["township_code"], towns["township_name"]))
    keys = [f"{ROW_PREFIX}{c}" for c in towns["township_code"]]
    if not counts.empty:
        keys += sorted(k for k in counts.index if k not in set(keys))
    rows, sums = [], {k: 0 for k in [*COUNT_KEYS, "escalated"]}
    for key in keys:
        vals = {k: (int(counts.loc[key, k]) if not counts.empty and key in counts.index and k in counts.columns else 0)
                for k in sums}
        for k in sums:
            sums[k] += vals[k]
        code = key[len(ROW_PREFIX):]
        remarks = f"已报联控联保工作组{vals['escalated']}人" if vals["escalated"] else ""
        rows.append([names.get(code, "未知乡镇" if code == "unknown" else code), *_values(vals), remarks])
    esc = f"已报联控联保工作组{sums['escalated']}人" if sums["escalated"] else ""
    totals = ["合计", *_values(sums), esc]
    return rows, totals


def _values(vals: dict[str, int]) -> list:
    return [_rate(vals["enrolled"], vals["school_age"]) if k == "rate" else vals[k] for k, _, _ in COLUMNS]


def _params(run: ReportRun):
    return quarter_params(run.warehouse, run.period, run.config)


def build(run: ReportRun) -> Built:
    cutoff_text = "（本季度尚无考勤数据）" if run.params is None else run.params["end"].isoformat()
    rows, totals = r2_rows(run.warehouse, run.period)
    district = run.district()
    sheet = Sheet(
        name="统计表",
        title=f"{district}{month_label(run.period)}{TITLE}",
        subtitle_lines=[f"填报单位：{run.unit()}（盖章）    统计截止日期：{cutoff_text}    单位：人、%"],
        header_rows=[["乡镇（街道）", *[group for _, _, group in COLUMNS], "备注"]],
        headers=["", *[label for _, label, _ in COLUMNS], ""],
        rows=rows, totals=totals,
        footer_lines=["填表人：                审核人：                填报日期：",
                      "说明：疑似辍学按本季度任一月份被规则标记计（至统计截止日期）；九年一贯制学校1–6年级计入小学、7–9年级计入初中；"
                      "入学率＝在籍适龄儿童数÷户籍适龄儿童数。"],
        widths=[16, *[11] * len(COLUMNS), 22],
    )
    meta = {f"total_{k}": int(v) for (k, _, _), v in zip(COLUMNS, totals[1:]) if k != "rate"}
    meta["cutoff"] = cutoff_text
    return Built([run.write([sheet])], len(rows), meta)


SPEC = ReportSpec(
    REPORT_ID, R2,
    audience="district_totals",
    description="""R2 控辍保学排查整改工作情况统计表 (附件2) Quarterly statistics: per township, enrolment rate, suspected
    dropouts by stage and priority group, children persuaded back, out of school and still out; due by the
    quarter's end (run on the 25th of its last month).""",
    deps=[QUARTERLY_SUSPECTED, TOWNSHIP_RATES, STAGED["casework"], STAGED["reference"]],
    build=build, cells="r2_cells", cells_parts=CELLS_PARTS, params=_params, partitions_def=quarterly_partitions,
    config=RuleConfig, code_version="2")
r2_statistics = register_report(SPEC, __name__)

