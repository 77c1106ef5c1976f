"""R6 送教上门情况表 Home-teaching compliance: one row per home-taught child with the month's visits,
qualifying visits (≥ 3 class hours) and whether the standard (≥ 2 such visits) was met."""

import dagster as dg

from assets.common import OWNERS
from assets.derived import STAGED
from assets.home_teaching import HOME_TEACHING_COMPLIANCE, MIN_HOURS, MIN_VISITS
from assets.report_files import cell_counts, current_district, replace_cells, report_metadata, report_path
from assets.report_r3 import PERSON_SQL, _text
from kongchuo.districts import district_name, month_label
from kongchuo.excel import Sheet, write_workbook
from kongchuo.labels import grade_label, issuing_unit
from kongchuo.masking import mask_id
from kongchuo.reports_catalog import REPORT_NAMES
from warehouse.home import KongchuoHome
from warehouse.partitions import monthly_partitions, period_of
from warehouse.pools import WAREHOUSE_POOL
from warehouse.resource import WarehouseResource

R6 = dg.AssetKey(["reports", "r6_home_teaching"])
REPORT_ID = "R6"
TITLE = REPORT_NAMES[REPORT_ID]

CELLS_SQL = """
    SELECT :period, :report, coalesce(school_code, 'township:' || coalesce(township_code, 'unknown')),
           'home_taught', id_number FROM derived.home_teaching_compliance WHERE period = :period
    UNION ALL
    SELECT :period, :report, coalesce(school_code, 'township:' || coalesce(township_code, 'unknown')),
           CASE WHEN compliant THEN 'compliant' ELSE 'non_compliant' END, id_number
    FROM derived.home_teaching_compliance WHERE period = :period
"""
KEYS_SQL = ("SELECT id_number AS person_key, id_number, NULL AS student_no, school_code, township_code "
            "FROM derived.home_teaching_compliance WHERE period = :period")


@dg.asset(pool=WAREHOUSE_POOL, key=R6, deps=[HOME_TEACHING_COMPLIANCE, STAGED["registry"], STAGED["reference"]],
          group_name="reports", owners=OWNERS, partitions_def=monthly_partitions, kinds={"excel", "openpyxl"},
          code_version="1")
def r6_home_teaching(context: dg.AssetExecutionContext, home: KongchuoHome,
                     warehouse: WarehouseResource) -> dg.MaterializeResult:
    """R6 送教上门情况表 Home-teaching compliance: every home-taught child with the month's visits and class
    hours, and whether the standard of ≥ 2 visits of ≥ 3 class hours was met."""
    period = period_of(context)
    params = {"period": period}
    replace_cells(warehouse, period, REPORT_ID, CELLS_SQL, params)
    df = warehouse.query_df("SELECT * FROM derived.home_teaching_compliance WHERE period = :period", params)
    who = warehouse.query_df(PERSON_SQL.format(keys=KEYS_SQL), params).set_index("person_key")
    df = df.merge(who[["name", "school_name", "township_name", "grade"]], left_on="id_number", right_index=True,
                  how="left").sort_values(["township_code", "school_code", "id_number"], na_position="last")
    rows = [[i, _text(r.township_name), _text(r.school_name), _text(r.name), mask_id(r.id_number), grade_label(r.grade),
             int(r.visits), int(r.qualifying_visits), float(r.class_hours), _text(r.first_visit), _text(r.last_visit),
             "达标" if r.compliant else "未达标"]
            for i, r in enumerate(df.itertuples(index=False), start=1)]
    counts = cell_counts(warehouse, period, REPORT_ID)
    total = {k: int(counts[k].sum()) if not counts.empty and k in counts.columns else 0
             for k in ("home_taught", "compliant", "non_compliant")}
    district_code = current_district(warehouse)
    district = district_name(district_code)
    unit = issuing_unit(district_code, home.reference("districts.csv"))
    path = report_path(home, warehouse, period, TITLE)
    sha = write_workbook(path, [Sheet(
        name="送教上门", title=f"{district}{month_label(period)}{TITLE}",
        subtitle_lines=[f"填报单位：{unit}（盖章）    统计期间：{month_label(period)}    标准：每月送教不少于{MIN_VISITS}次、每次不少于{MIN_HOURS}课时    "
                        f"送教对象 {total['home_taught']} 人，达标 {total['compliant']} 人，未达标 {total['non_compliant']} 人"],
        headers=["序号", "乡镇（街道）", "学校", "姓名", "身份证件号", "年级", "本月送教次数", "其中达标次数",
                 "本月课时", "首次送教日期", "末次送教日期", "是否达标"],
        rows=rows,
        totals=["合计", "", "", total["home_taught"], "", "", sum(r[6] for r in rows), sum(r[7] for r in rows),
                sum(r[8] for r in rows), "", "", f"未达标 {total['non_compliant']} 人"],
        footer_lines=["填表人：                审核人：                填报日期："],
        widths=[6, 16, 28, 10, 22, 8, 14, 14, 10, 14, 14, 16], wrap_columns=(1, 2, 3),
    )])
    meta = report_metadata(path, sha, len(rows), warehouse, period)
    meta.update({f"total_{k}": v for k, v in total.items()})
    return dg.MaterializeResult(metadata=meta)
