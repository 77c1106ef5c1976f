"""R4 劝返无效上报名单 Escalation list (to the joint working group): every case escalated (3 or more persuasion attempts without
return) and still open at the month's cut-off, as the ledger stands then (state ``escalated``), with the
escalation date; the ones not on the list at the previous month's end are marked 本月新增.

The ledger holds every month's events up to the cut-off whether or not earlier months were run (see
:mod:`assets.ledger`), so a first run on a backlog lists the children escalated in earlier months too. The
escalation date is the first escalation since the case was last (re)opened. A child persuaded back after the
escalation (latest attempt 已返校) leaves the list: persuasion no longer failed.
"""

import dagster as dg

from assets.common import OWNERS
from assets.derived import STAGED
from assets.ledger import CASE_EVENTS, state_as_of_sql
from assets.report_files import cell_counts, current_district, replace_cells, report_metadata, report_path
from assets.report_r3 import PERSON_SQL, _text
from kongchuo.districts import district_name, month_label
from kongchuo.excel import Sheet, write_workbook
from kongchuo.labels import grade_label, issuing_unit
from kongchuo.masking import mask_id
from kongchuo.reports_catalog import REPORT_NAMES
from warehouse.home import KongchuoHome
from warehouse.partitions import monthly_partitions, period_bounds, period_of
from warehouse.pools import WAREHOUSE_POOL
from warehouse.resource import WarehouseResource

R4 = dg.AssetKey(["reports", "r4_escalations"])
REPORT_ID = "R4"
TITLE = REPORT_NAMES[REPORT_ID]

# Cases escalated at the cut-off, with the date of the escalation that put them in that state (the latest) and
# whether they are new on the list (is_new: not escalated at the end of the previous month).
ESCALATED_SQL = f"""
    WITH esc AS (
        SELECT person_key, max(event_date) AS escalated_on FROM ledger.case_events
        WHERE event_type = 'escalate' AND created_for_period <= :period GROUP BY person_key
    ),
    prev AS (SELECT person_key, state FROM ({state_as_of_sql(before=True)}) b)
    SELECT s.*, e.escalated_on,
           CASE WHEN b.state IS NULL OR b.state <> 'escalated' THEN 1 ELSE 0 END AS is_new
    FROM ({state_as_of_sql(before=False)}) s
    JOIN esc e ON e.person_key = s.person_key
    LEFT JOIN prev b ON b.person_key = s.person_key
    WHERE s.state = 'escalated'
"""

# First and last persuasion attempt up to the cut-off, per escalated child.
DETAIL_SQL = f"""
    WITH esc AS ({ESCALATED_SQL})
    SELECT e.person_key,
           min(CASE WHEN v.event_type = 'attempt' THEN v.event_date END) AS first_attempt,
           max(CASE WHEN v.event_type = 'attempt' THEN v.event_date END) AS last_attempt
    FROM esc e JOIN ledger.case_events v ON v.person_key = e.person_key AND v.created_for_period <= :period
    GROUP BY e.person_key
"""

REASON_SQL = f"""
    WITH esc AS ({ESCALATED_SQL})
    SELECT c.id_number AS person_key, min(c.dropout_reason) AS dropout_reason, min(c.unit) AS unit
    FROM staged.casework c JOIN esc e ON e.person_key = c.id_number
    WHERE c.attempt_date <= :end AND c.dropout_reason IS NOT NULL
    GROUP BY c.id_number
"""


@dg.asset(pool=WAREHOUSE_POOL, key=R4, deps=[CASE_EVENTS, STAGED["registry"], STAGED["casework"], STAGED["reference"]],
          group_name="reports", owners=OWNERS, partitions_def=monthly_partitions, kinds={"excel", "openpyxl"},
          code_version="2")
def r4_escalations(context: dg.AssetExecutionContext, home: KongchuoHome,
                   warehouse: WarehouseResource) -> dg.MaterializeResult:
    """R4 劝返无效上报名单 Escalation list: children persuaded 3 or more times without returning, to be
    reported to the joint working group (联控联保工作组), by township and school, with attempts and dates."""
    period = period_of(context)
    params = {"period": period, "end": period_bounds(period)[1]}
    replace_cells(warehouse, period, REPORT_ID, f"""
        SELECT :period, :report, coalesce(school_code, 'unknown'), 'escalated', person_key FROM ({ESCALATED_SQL}) e
        UNION ALL
        SELECT :period, :report, coalesce(school_code, 'unknown'), 'new_this_month', person_key
        FROM ({ESCALATED_SQL}) e WHERE is_new = 1""", params)
    esc = warehouse.query_df(ESCALATED_SQL, params)
    who = warehouse.query_df(PERSON_SQL.format(keys=ESCALATED_SQL), params).set_index("person_key")
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
    counts = cell_counts(warehouse, period, REPORT_ID)
    total = _column_total(counts, "escalated")
    new = _column_total(counts, "new_this_month")
    district_code = current_district(warehouse)
    district = district_name(district_code)
    unit = issuing_unit(district_code, home.reference("districts.csv"))
    path = report_path(home, warehouse, period, TITLE)
    sha = write_workbook(path, [Sheet(
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
    )])
    meta = report_metadata(path, sha, len(rows), warehouse, period)
    meta["escalated"] = total
    meta["new_this_month"] = new
    return dg.MaterializeResult(metadata=meta)


def _column_total(counts, column: str) -> int:
    return int(counts[column].sum()) if not counts.empty and column in counts.columns else 0
