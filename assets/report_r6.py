"""R6 送教上门情况表 Home-teaching compliance: one row per home-taught child with the month's visits,
qualifying visits (≥ 3 class hours) and whether the standard (≥ 2 such visits) was met."""

import dagster as dg

from assets.derived import STAGED
from assets.home_teaching import HOME_TEACHING_COMPLIANCE, MIN_HOURS, MIN_VISITS
from assets.report_skeleton import (
    PERSON_SQL_FILES,
    Built,
    ReportRun,
    ReportSpec,
    column_total,
    person_sql,
    register_report,
)
from assets.report_skeleton import cell_text as _text
from kongchuo.districts import month_label
from kongchuo.excel import Sheet
from kongchuo.labels import grade_label
from kongchuo.masking import mask_id
from kongchuo.reports_catalog import REPORT_NAMES
from warehouse import sql

R6 = dg.AssetKey(["reports", "r6_home_teaching"])
REPORT_ID = "R6"
TITLE = REPORT_NAMES[REPORT_ID]

SQL_FILES = ("reports/r6_cells", *PERSON_SQL_FILES)  # policies: code_version
CELLS_SQL = sql.load("reports/r6_cells")
KEYS_SQL = ("SELECT id_number AS person_key, id_number, NULL AS student_no, school_code, township_code "
            "FROM derived.home_teaching_compliance WHERE period = :period")


def build(run: ReportRun) -> Built:
    warehouse, period, params = run.warehouse, run.period, {"period": run.period}
    df = warehouse.query_df("SELECT * FROM derived.home_teaching_compliance WHERE period = :period", params)
    who = warehouse.query_df(person_sql(KEYS_SQL), params).set_index("person_key")
    df = df.merge(who[["name", "school_name", "township_name", "grade"]], left_on="id_number", right_index=True,
                  how="left").sort_values(["township_code", "school_code", "id_number"], na_position="last")
    rows = [[i, _text(r.township_name), _text(r.school_name), _text(r.name), mask_id(r.id_number), grade_label(r.grade),
             int(r.visits), int(r.qualifying_visits), float(r.class_hours), _text(r.first_visit), _text(r.last_visit),
             "达标" if r.compliant else "未达标"]
            for i, r in enumerate(df.itertuples(index=False), start=1)]
    counts = run.counts()
    total = {k: column_total(counts, k) for k in ("home_taught", "compliant", "non_compliant")}
    district = run.district()
    unit = run.unit()
    sheet = Sheet(
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
    )
    return Built([run.write([sheet])], len(rows), {f"total_{k}": v for k, v in total.items()})


SPEC = ReportSpec(
    REPORT_ID, R6,
    description="""R6 送教上门情况表 Home-teaching compliance: every home-taught child with the month's visits and class
    hours, and whether the standard of ≥ 2 visits of ≥ 3 class hours was met.""",
    deps=[HOME_TEACHING_COMPLIANCE, STAGED["registry"], STAGED["reference"]],
    build=build, cells="r6_cells", params=lambda run: {"period": run.period})
r6_home_teaching = register_report(SPEC, __name__)
