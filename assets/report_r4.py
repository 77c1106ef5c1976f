"""R4 劝返无效上报名单 Escalation list (to the joint working group): every case escalated (3 or more persuasion attempts without
return) and still open at the month's cut-off, as the ledger stands then (state ``escalated``), with the
escalation date; the ones not on the list at the previous month's end are marked 本月新增.

The ledger holds every month's events up to the cut-off whether or not earlier months were run (see
:mod:`assets.ledger`), so a first run on a backlog lists the children escalated in earlier months too. The
escalation date is the first escalation since the case was last (re)opened. A child persuaded back after the
escalation (latest attempt 已返校) leaves the list: persuasion no longer failed.
"""

import dagster as dg

from assets.derived import STAGED
from assets.ledger import CASE_EVENTS, state_as_of_sql
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
from warehouse.partitions import period_bounds

R4 = dg.AssetKey(["reports", "r4_escalations"])
REPORT_ID = "R4"
TITLE = REPORT_NAMES[REPORT_ID]

# Cases escalated at the cut-off with their escalation date and whether they are new on the list; their first and
# last attempts; their dropout reason and persuading unit.
SQL_FILES = ("reports/r4_escalated", "reports/r4_detail", "reports/r4_reason", "reports/r4_cells", *PERSON_SQL_FILES)  # policies: code_version
ESCALATED_SQL = sql.render("reports/r4_escalated", before=state_as_of_sql(before=True),
                           cases=state_as_of_sql(before=False))
DETAIL_SQL = sql.render("reports/r4_detail", escalated=ESCALATED_SQL)
REASON_SQL = sql.render("reports/r4_reason", escalated=ESCALATED_SQL)


def _params(run: ReportRun) -> dict:
    return {"period": run.period, "end": period_bounds(run.period)[1]}


def build(run: ReportRun) -> Built:
    warehouse, period, params = run.warehouse, run.period, run.params
    esc = warehouse.query_df(ESCALATED_SQL, params)
    who = warehouse.query_df(person_sql(ESCALATED_SQL), params).set_index("person_key")
    detail = warehouse.query_df(DETAIL_SQL, params).set_index("person_key")
    reasons = warehouse.query_df(REASON_SQL, params).set_index("person_key")
    order = who.reset_index().sort_values(["township_code", "school_code", "person_key"], na_position="last")
    cases = esc.set_index("person_key")
    rows = []
    for i, p in enumerate(order.itertuples(index=False), start=1):
        c = cases.loc[p.person_key]
        d = detail.loc[p.person_key] if p.person_key in detail.index else None
        r = reasons.loc[p.person_key] if p.person_key in reasons.index else None
        rows.append([i, _text(p.township_name), _text(p.school_name), _text(p.name), mask_id(p.id_number),
                     grade_label(p.grade), int(c["attempt_count"]),
                     _text(d["first_attempt"]) if d is not None else "", _text(d["last_attempt"]) if d is not None else "",
                     _text(c["escalated_on"]), "是" if int(c["is_new"]) else "",
                     _text(r["dropout_reason"]) if r is not None else "", _text(r["unit"]) if r is not None else ""])
    counts = run.counts()
    total = column_total(counts, "escalated")
    new = column_total(counts, "new_this_month")
    district = run.district()
    unit = run.unit()
    sheet = Sheet(
        name="上报名单", title=f"{district}{month_label(period)}{TITLE}",
        subtitle_lines=[f"填报单位：{unit}（盖章）    统计期间：截至{month_label(period)}末    "
                        f"报送：联控联保工作组    标准：劝返3次及以上仍未返校    其中本月新增{new}人    单位：人、次"],
        headers=["序号", "乡镇（街道）", "学校", "姓名", "身份证件号", "年级", "劝返次数", "首次劝返日期",
                 "最近劝返日期", "上报日期", "本月新增", "辍学原因", "劝返单位"],
        rows=rows, totals=["合计", "", "", total, "", "", sum(r[6] for r in rows), "", "", "", new, "", ""],
        footer_lines=["填表人：                审核人：                填报日期：",
                      "说明：名单为截至月末台账中已上报联控联保工作组、尚未销号的学生；劝返次数含各种方式（上门、电话、联合劝返、"
                      "司法文书）；辍学原因、劝返单位取自劝返记录；本月新增指上月末尚未上报的学生。"],
        widths=[6, 16, 28, 10, 22, 8, 10, 13, 13, 12, 9, 14, 18], wrap_columns=(1, 2, 3, 11, 12),
    )
    return Built([run.write([sheet])], len(rows), {"escalated": total, "new_this_month": new})


SPEC = ReportSpec(
    REPORT_ID, R4,
    description="""R4 劝返无效上报名单 Escalation list: children persuaded 3 or more times without returning, to be
    reported to the joint working group (联控联保工作组), by township and school, with attempts and dates.""",
    deps=[CASE_EVENTS, STAGED["registry"], STAGED["casework"], STAGED["reference"]],
    build=build, cells="r4_cells", cells_parts={"escalated": ESCALATED_SQL}, params=_params, code_version="2")
r4_escalations = register_report(SPEC, __name__)
