"""R3 一生一表: one sheet per case open at the end of the month, with the child's whole ledger history.

The workbook goes to the people who work the case (school, township, bureau): it carries the full ID
number and name, which never appear in logs or metadata. The first sheet is an index of the cases.
"""


import re

import dagster as dg
import pandas as pd

from assets.common import OWNERS
from assets.derived import STAGED
from assets.ledger import CASE_EVENTS, EVENT_LABELS, STATE_LABELS, state_as_of_sql
from assets.report_files import current_district, replace_cells, report_metadata, report_path
from kongchuo.districts import district_name, month_label
from kongchuo.excel import Sheet, write_workbook
from kongchuo.sources import REGISTRY_STATUS_LABEL
from pipelines.partitions import monthly_partitions, period_of
from pipelines.pools import WAREHOUSE_POOL
from pipelines.resources import KongchuoHome
from warehouse.resource import WarehouseResource

R3 = dg.AssetKey(["reports", "r3_one_student_one_form"])
REPORT_ID = "R3"
TITLE = "一生一表"

OPEN_CASES_SQL = f"""
    SELECT * FROM ({state_as_of_sql(before=False)}) s WHERE s.state <> 'closed'
"""

# Who the child is, for the people working the case: their registry record (active first), census fallback.
PERSON_SQL = """
    WITH reg AS (
        SELECT coalesce(r.id_number, r.student_no) AS person_key, r.id_number, r.student_no, r.name, r.gender,
               r.birth_date, r.school_code, coalesce(r.school_name, s.school_name) AS school_name, r.grade,
               r.class_name, r.status, coalesce(s.township_code, r.township_code) AS township_code,
               r.guardian_name, r.guardian_phone, r.is_poverty_family, r.is_left_behind, r.is_migrant,
               r.is_disabled, r.is_in_difficulty,
               row_number() OVER (PARTITION BY coalesce(r.id_number, r.student_no)
                                  ORDER BY CASE WHEN r.status = 'active' THEN 0 ELSE 1 END, r.school_code) AS rn
        FROM staged.registry_current r LEFT JOIN staged.schools s ON s.school_code = r.school_code
    )
    SELECT k.person_key, coalesce(r.id_number, c.id_number, k.id_number) AS id_number,
           coalesce(r.student_no, k.student_no) AS student_no, coalesce(r.name, c.name) AS name,
           coalesce(r.gender, c.gender) AS gender, coalesce(r.birth_date, c.birth_date) AS birth_date,
           coalesce(r.school_code, k.school_code) AS school_code, r.school_name, r.grade, r.class_name, r.status,
           coalesce(r.township_code, k.township_code, c.township_code) AS township_code, t.township_name,
           c.village, r.guardian_name, r.guardian_phone, r.is_poverty_family, r.is_left_behind, r.is_migrant,
           coalesce(r.is_disabled, c.is_disabled) AS is_disabled, r.is_in_difficulty
    FROM ({keys}) k
    LEFT JOIN reg r ON r.person_key = k.person_key AND r.rn = 1
    LEFT JOIN staged.census_current c ON c.id_number = k.person_key
    LEFT JOIN staged.townships t ON t.township_code = coalesce(r.township_code, k.township_code, c.township_code)
"""

HISTORY_SQL = """
    SELECT e.* FROM ledger.case_events e
    WHERE e.created_for_period <= :period AND e.person_key IN (SELECT person_key FROM ({keys}) k)
    ORDER BY e.person_key, e.created_for_period, e.event_seq
"""


def people(warehouse: WarehouseResource, keys_sql: str, params: dict) -> pd.DataFrame:
    return warehouse.query_df(PERSON_SQL.format(keys=keys_sql), params)


def _text(value) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return str(value)


def _flags(p) -> str:
    labels = [("is_poverty_family", "脱贫家庭/建档立卡"), ("is_left_behind", "留守儿童"), ("is_migrant", "随迁子女"),
              ("is_disabled", "残疾"), ("is_in_difficulty", "困境儿童")]
    return "、".join(label for col, label in labels if getattr(p, col) is True) or "无"


_SHEET_UNSAFE = re.compile(r"[\\\[\]:*?/]")


def _sheet_name(i: int, name: str) -> str:
    return f"{i:03d}{_SHEET_UNSAFE.sub('', name)[:20]}"


@dg.asset(pool=WAREHOUSE_POOL, key=R3, deps=[CASE_EVENTS, STAGED["registry"], STAGED["census"], STAGED["reference"]],
          group_name="reports", owners=OWNERS, partitions_def=monthly_partitions, kinds={"excel", "openpyxl"},
          code_version="1")
def r3_one_student_one_form(context: dg.AssetExecutionContext, home: KongchuoHome,
                            warehouse: WarehouseResource) -> dg.MaterializeResult:
    """R3 一生一表 One student, one form: one sheet per case open at the month's end with the child's
    particulars and the whole history of the case (every ledger event with reason, evidence and source file)."""
    period = period_of(context)
    params = {"period": period}
    replace_cells(warehouse, period, REPORT_ID, f"""
        SELECT :period, :report, coalesce(school_code, 'unknown'), 'open_cases', person_key
        FROM ({OPEN_CASES_SQL}) o""", params)
    cases = warehouse.query_df(OPEN_CASES_SQL + " ORDER BY s.township_code, s.school_code, s.person_key", params)
    keys_sql = f"SELECT person_key, id_number, student_no, school_code, township_code FROM ({OPEN_CASES_SQL}) o"
    who = people(warehouse, keys_sql, params).set_index("person_key")
    history = warehouse.query_df(HISTORY_SQL.format(keys=keys_sql), params)
    by_person: dict[str, list] = {}  # one itertuples over all events: per-case frames cost ~2 ms a case
    for e in history.itertuples(index=False):
        by_person.setdefault(e.person_key, []).append(e)
    district = district_name(current_district(warehouse))
    index_rows, sheets = [], []
    for i, case in enumerate(cases.itertuples(index=False), start=1):
        p = who.loc[case.person_key]
        name = _text(p["name"]) or "（无姓名）"
        sheet_name = _sheet_name(i, name)
        index_rows.append([i, _text(p["township_name"]), _text(p["school_name"]), name, _text(p["id_number"]),
                           STATE_LABELS.get(case.state, case.state), int(case.attempt_count), sheet_name])
        events = by_person.get(case.person_key, [])
        rows = [[j, e.created_for_period, _text(e.event_date), EVENT_LABELS.get(e.event_type, e.event_type),
                 STATE_LABELS.get(e.from_state, _text(e.from_state)), STATE_LABELS.get(e.to_state, e.to_state),
                 _text(e.reason), _text(e.evidence), int(e.attempt_count), _text(e.source),
                 _text(e.source_file_sha)[:12]]
                for j, e in enumerate(events, start=1)]
        sheets.append(Sheet(
            name=sheet_name, title=f"{district}控辍保学一生一表（{name}）",
            subtitle_lines=[
                f"姓名：{name}    性别：{ {'M': '男', 'F': '女'}.get(_text(p['gender']), '') }    "
                f"出生日期：{_text(p['birth_date'])}    身份证件号：{_text(p['id_number'])}    "
                f"全国学籍号：{_text(p['student_no'])}",
                f"乡镇（街道）：{_text(p['township_name'])}    村（社区）：{_text(p['village'])}    "
                f"学校：{_text(p['school_name'])}（{_text(p['school_code'])}）    年级：{_text(p['grade'])}    "
                f"班级：{_text(p['class_name'])}    学籍状态：{REGISTRY_STATUS_LABEL.get(_text(p['status']), _text(p['status']))}",
                f"监护人：{_text(p['guardian_name'])}    联系电话：{_text(p['guardian_phone'])}    "
                f"重点群体：{_flags(p)}",
                f"当前状态：{STATE_LABELS.get(case.state, case.state)}    累计劝返次数：{int(case.attempt_count)}    "
                f"统计期间：{month_label(period)}",
            ],
            headers=["序号", "所属期间", "日期", "事项", "原状态", "新状态", "原因/结果", "依据", "劝返次数",
                     "来源", "来源文件(SHA-256)"],
            rows=rows,
            footer_lines=["填表人：                审核人：                填报日期："],
            widths=[6, 10, 12, 16, 16, 16, 30, 36, 9, 12, 16],
        ))
    index = Sheet(
        name="目录", title=f"{district}{month_label(period)}控辍保学一生一表（在册案件 {len(index_rows)} 件）",
        subtitle_lines=[f"统计期间：{month_label(period)}    单位：人"],
        headers=["序号", "乡镇（街道）", "学校", "姓名", "身份证件号", "当前状态", "劝返次数", "工作表"],
        rows=index_rows, totals=["合计", "", "", len(index_rows), "", "", "", ""],
        footer_lines=["填表人：                审核人：                填报日期："],
        widths=[6, 14, 30, 10, 22, 18, 9, 14],
    )
    path = report_path(home, warehouse, period, TITLE)
    sha = write_workbook(path, [index, *sheets])
    context.log.info(f"R3 {period}: {len(index_rows)} open cases")
    meta = report_metadata(path, sha, len(index_rows), warehouse, period)
    meta["open_cases"] = len(index_rows)
    return dg.MaterializeResult(metadata=meta)
