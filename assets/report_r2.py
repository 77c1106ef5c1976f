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

from assets.common import OWNERS
from assets.derived import STAGED
from assets.manifest import build_manifest_asset
from assets.quarterly import (
    DATA_TOWNSHIPS_SQL,
    QUARTERLY_SUSPECTED,
    TOWNSHIP_PEOPLE_SQL,
    TOWNSHIP_RATES,
    quarter_params,
)
from assets.report_files import cell_counts, current_district, replace_cells, report_metadata, report_path
from assets.rules import RuleConfig
from kongchuo.districts import district_name, month_label
from kongchuo.excel import Sheet, write_workbook
from kongchuo.labels import issuing_unit
from kongchuo.reports_catalog import R2_COLUMNS, R2_PRIORITY_FLAGS, REPORT_NAMES
from warehouse.home import KongchuoHome
from warehouse.partitions import period_of, quarterly_partitions
from warehouse.pools import WAREHOUSE_POOL
from warehouse.resource import WarehouseResource
from warehouse.views import REGISTRY_PERSON_KEY_R

R2 = dg.AssetKey(["reports", "quarterly", "r2_statistics"])
REPORT_ID = "R2"
TITLE = REPORT_NAMES[REPORT_ID]
ROW_PREFIX = "township:"

COLUMNS = R2_COLUMNS
COUNT_KEYS = [k for k, _, _ in COLUMNS if k != "rate"]

_PRIORITY_SQL = "\n".join(
    f"""UNION ALL SELECT :period, :report, '{ROW_PREFIX}' || coalesce(q.township_code, 'unknown'), '{key}', q.person_key
        FROM qs q WHERE EXISTS (SELECT 1 FROM staged.registry_current r
                                WHERE {REGISTRY_PERSON_KEY_R} = q.person_key AND r.{flag})"""
    + (""" OR EXISTS (SELECT 1 FROM staged.census_current c WHERE c.id_number = q.person_key AND c.{flag})""".format(
        flag=flag) if flag in ("is_poverty_family", "is_disabled") else "")
    for key, flag in R2_PRIORITY_FLAGS.items())

CELLS_SQL = f"""
    WITH people AS ({TOWNSHIP_PEOPLE_SQL}),
    qs AS (SELECT DISTINCT person_key, township_code, stage FROM derived.quarterly_suspected WHERE period = :period),
    reg AS (
        SELECT {REGISTRY_PERSON_KEY_R} AS person_key, coalesce(s.township_code, r.township_code) AS township_code,
               CASE WHEN s.stage = '小学' THEN '小学' WHEN s.stage = '初中' THEN '初中'
                    WHEN r.grade <= 6 THEN '小学' ELSE '初中' END AS stage,
               row_number() OVER (PARTITION BY {REGISTRY_PERSON_KEY_R}
                                  ORDER BY CASE WHEN r.status = 'active' THEN 0 ELSE 1 END, r.school_code) AS rn
        FROM staged.registry_current r LEFT JOIN staged.schools s ON s.school_code = r.school_code
    ),
    tries AS (
        SELECT id_number, sum(CASE WHEN result = 'returned' THEN 1 ELSE 0 END) AS returned,
               count(*) AS attempts
        FROM (SELECT DISTINCT id_number, attempt_date, method, unit, result FROM staged.casework
              WHERE attempt_date BETWEEN :start AND :end AND id_number IS NOT NULL) c
        GROUP BY id_number
    ),
    all_tries AS (  -- the ledger's escalation rule: >= 3 attempts 未返校 up to the cut-off, the latest 未返校
        SELECT id_number, sum(CASE WHEN result = 'returned' THEN 0 ELSE 1 END) AS failed,
               max(CASE WHEN result = 'returned' THEN attempt_date END) AS last_returned,
               max(CASE WHEN result = 'returned' THEN NULL ELSE attempt_date END) AS last_failed
        FROM (SELECT DISTINCT id_number, attempt_date, method, unit, result FROM staged.casework
              WHERE attempt_date <= :end AND id_number IS NOT NULL AND result IS NOT NULL) c
        GROUP BY id_number
    )
    SELECT :period, :report, '{ROW_PREFIX}' || coalesce(township_code, 'unknown'), measure, person FROM people
    UNION ALL SELECT :period, :report, '{ROW_PREFIX}' || coalesce(township_code, 'unknown'),
                     CASE WHEN stage = '小学' THEN 'suspected_primary' ELSE 'suspected_junior' END, person_key FROM qs
    {_PRIORITY_SQL}
    UNION ALL SELECT :period, :report, '{ROW_PREFIX}' || coalesce(r.township_code, 'unknown'),
                     CASE WHEN r.stage = '小学' THEN 'returned_primary' ELSE 'returned_junior' END, t.id_number
        FROM tries t JOIN reg r ON r.person_key = t.id_number AND r.rn = 1 WHERE t.returned > 0
    UNION ALL SELECT :period, :report, '{ROW_PREFIX}' || coalesce(r.township_code, 'unknown'), 'escalated', t.id_number
        FROM all_tries t LEFT JOIN reg r ON r.person_key = t.id_number AND r.rn = 1
        WHERE t.failed >= 3 AND (t.last_returned IS NULL OR t.last_failed >= t.last_returned)
"""


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


@dg.asset(pool=WAREHOUSE_POOL, key=R2, deps=[QUARTERLY_SUSPECTED, TOWNSHIP_RATES, STAGED["casework"], STAGED["reference"]],
          group_name="reports", owners=OWNERS, partitions_def=quarterly_partitions, kinds={"excel", "openpyxl"},
          code_version="2")
def r2_statistics(context: dg.AssetExecutionContext, home: KongchuoHome, warehouse: WarehouseResource,
                  config: RuleConfig) -> dg.MaterializeResult:
    """R2 控辍保学排查整改工作情况统计表 (附件2) Quarterly statistics: per township, enrolment rate, suspected
    dropouts by stage and priority group, children persuaded back, out of school and still out; due by the
    quarter's end (run on the 25th of its last month)."""
    quarter = period_of(context)
    params = quarter_params(warehouse, quarter, config)
    if params is None:
        replace_cells(warehouse, quarter, REPORT_ID, "SELECT :period, :report, '', '', '' WHERE 1 = 0", {})
        cutoff_text = "（本季度尚无考勤数据）"
    else:
        replace_cells(warehouse, quarter, REPORT_ID, CELLS_SQL, params)
        cutoff_text = params["end"].isoformat()
    rows, totals = r2_rows(warehouse, quarter)
    district_code = current_district(warehouse)
    district = district_name(district_code)
    unit = issuing_unit(district_code, home.reference("districts.csv"))
    path = report_path(home, warehouse, quarter, TITLE)
    sha = write_workbook(path, [Sheet(
        name="统计表",
        title=f"{district}{month_label(quarter)}{TITLE}",
        subtitle_lines=[f"填报单位：{unit}（盖章）    统计截止日期：{cutoff_text}    单位：人、%"],
        header_rows=[["乡镇（街道）", *[group for _, _, group in COLUMNS], "备注"]],
        headers=["", *[label for _, label, _ in COLUMNS], ""],
        rows=rows, totals=totals,
        footer_lines=["填表人：                审核人：                填报日期：",
                      "说明：疑似辍学按本季度任一月份被规则标记计（至统计截止日期）；九年一贯制学校1–6年级计入小学、7–9年级计入初中；"
                      "入学率＝在籍适龄儿童数÷户籍适龄儿童数。"],
        widths=[16, *[11] * len(COLUMNS), 22],
    )])
    meta = report_metadata(path, sha, len(rows), warehouse, quarter)
    meta.update({f"total_{k}": int(v) for (k, _, _), v in zip(COLUMNS, totals[1:]) if k != "rate"})
    meta["cutoff"] = cutoff_text
    return dg.MaterializeResult(metadata=meta)


# The quarter's manifest (reports/2026-Q2/manifest.json). Keyed under reports/quarterly/ so the monthly job,
# which selects the 'reports' group minus that prefix, never picks up a quarterly-partitioned asset.
_manifest = build_manifest_asset("quarterly_manifest", [R2], quarterly_partitions)
quarterly_manifest = _manifest.with_attributes(
    asset_key_replacements={_manifest.key: dg.AssetKey(["reports", "quarterly", "manifest"])})

quarterly_report_assets = [r2_statistics, quarterly_manifest]
