"""R3 一生一表: one sheet per case open at the end of the month, with the child's whole ledger history.

The workbook goes to the people who work the case (school, township, bureau): it carries the full ID
number and name, which never appear in logs or metadata. The first sheet is an index of the cases.

One workbook per county (the district_code of the case's township in staged.townships; a case without a
known township belongs to the run's district). A single-county run writes one workbook under the usual
name (``建安区_2026年10月_一生一表.xlsx``); a prefecture or province run writes one per county, each named
for its county, in the same folder, all listed in the manifest. Each county's cases, people and history
are read and written one county at a time, and the sheets are generated as the writer consumes them, so
memory holds one county's frames and one sheet, not every case of a province.
"""


import re
from pathlib import Path
from typing import Iterator

import dagster as dg
import pandas as pd

from assets.common import OWNERS
from assets.derived import STAGED
from assets.ledger import CASE_EVENTS, EVENT_LABELS, STATE_LABELS, state_as_of_sql
from assets.report_files import current_district, replace_cells, report_metadata, report_path, source_files_metadata
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
# The registry is cut down to the cases' persons BEFORE the window: over a province's whole registry (15M
# rows) the window took ~9 s per county workbook; over the cases' records it takes a fraction of a second.
PERSON_SQL = """
    WITH k AS ({keys}),
    reg AS (
        SELECT coalesce(r.id_number, r.student_no) AS person_key, r.id_number, r.student_no, r.name, r.gender,
               r.birth_date, r.school_code, coalesce(r.school_name, s.school_name) AS school_name, r.grade,
               r.class_name, r.status, coalesce(s.township_code, r.township_code) AS township_code,
               r.guardian_name, r.guardian_phone, r.is_poverty_family, r.is_left_behind, r.is_migrant,
               r.is_disabled, r.is_in_difficulty,
               row_number() OVER (PARTITION BY coalesce(r.id_number, r.student_no)
                                  ORDER BY CASE WHEN r.status = 'active' THEN 0 ELSE 1 END, r.school_code) AS rn
        FROM staged.registry_current r LEFT JOIN staged.schools s ON s.school_code = r.school_code
        WHERE coalesce(r.id_number, r.student_no) IN (SELECT person_key FROM k)
    )
    SELECT k.person_key, coalesce(r.id_number, c.id_number, k.id_number) AS id_number,
           coalesce(r.student_no, k.student_no) AS student_no, coalesce(r.name, c.name) AS name,
           coalesce(r.gender, c.gender) AS gender, coalesce(r.birth_date, c.birth_date) AS birth_date,
           coalesce(r.school_code, k.school_code) AS school_code, r.school_name, r.grade, r.class_name, r.status,
           coalesce(r.township_code, k.township_code, c.township_code) AS township_code, t.township_name,
           c.village, r.guardian_name, r.guardian_phone, r.is_poverty_family, r.is_left_behind, r.is_migrant,
           coalesce(r.is_disabled, c.is_disabled) AS is_disabled, r.is_in_difficulty
    FROM k
    LEFT JOIN reg r ON r.person_key = k.person_key AND r.rn = 1
    LEFT JOIN staged.census_current c ON c.id_number = k.person_key
    LEFT JOIN staged.townships t ON t.township_code = coalesce(r.township_code, k.township_code, c.township_code)
"""

# Each open case with its county; a case whose township is unknown belongs to the run's district (:fallback).
CASES_SQL = f"""
    SELECT o.*, coalesce(t.district_code, :fallback) AS county
    FROM ({OPEN_CASES_SQL}) o LEFT JOIN staged.townships t ON t.township_code = o.township_code
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


def _true(value) -> bool:
    return value is not None and not (not isinstance(value, str) and pd.isna(value)) and bool(value)


def _flags(p) -> str:
    labels = [("is_poverty_family", "脱贫家庭/建档立卡"), ("is_left_behind", "留守儿童"), ("is_migrant", "随迁子女"),
              ("is_disabled", "残疾"), ("is_in_difficulty", "困境儿童")]
    return "、".join(label for col, label in labels if _true(getattr(p, col))) or "无"


_SHEET_UNSAFE = re.compile(r"[\\\[\]:*?/']")


def _sheet_name(i: int, name: str) -> str:
    return f"{i:03d}{_SHEET_UNSAFE.sub('', name)[:20]}"


_GENDER = {"M": "男", "F": "女"}
HEADERS = ["序号", "所属期间", "日期", "事项", "原状态", "新状态", "原因/结果", "依据", "劝返次数", "来源",
           "来源文件(SHA-256)"]
WIDTHS = [6, 10, 12, 16, 16, 16, 30, 36, 9, 12, 16]
FOOTER = ["填表人：                审核人：                填报日期："]


def _case_sheet(district: str, period: str, sheet_name: str, name: str, case, p, events) -> Sheet:
    rows = [[j, e.created_for_period, _text(e.event_date), EVENT_LABELS.get(e.event_type, e.event_type),
             STATE_LABELS.get(e.from_state, _text(e.from_state)), STATE_LABELS.get(e.to_state, e.to_state),
             _text(e.reason), _text(e.evidence), int(e.attempt_count), _text(e.source),
             _text(e.source_file_sha)[:12]]
            for j, e in enumerate(events, start=1)]
    status = _text(p.status)
    return Sheet(
        name=sheet_name, title=f"{district}控辍保学一生一表（{name}）",
        subtitle_lines=[
            f"姓名：{name}    性别：{_GENDER.get(_text(p.gender), '')}    "
            f"出生日期：{_text(p.birth_date)}    身份证件号：{_text(p.id_number)}    "
            f"全国学籍号：{_text(p.student_no)}",
            f"乡镇（街道）：{_text(p.township_name)}    村（社区）：{_text(p.village)}    "
            f"学校：{_text(p.school_name)}（{_text(p.school_code)}）    年级：{_text(p.grade)}    "
            f"班级：{_text(p.class_name)}    学籍状态：{REGISTRY_STATUS_LABEL.get(status, status)}",
            f"监护人：{_text(p.guardian_name)}    联系电话：{_text(p.guardian_phone)}    "
            f"重点群体：{_flags(p)}",
            f"当前状态：{STATE_LABELS.get(case.state, case.state)}    累计劝返次数：{int(case.attempt_count)}    "
            f"统计期间：{month_label(period)}",
        ],
        headers=HEADERS, rows=rows, footer_lines=FOOTER, widths=WIDTHS,
    )


def county_sheets(warehouse: WarehouseResource, period: str, county: str, fallback: str,
                  district: str) -> tuple[int, Iterator[Sheet]]:
    """(number of open cases, the county's sheets: the index, then one sheet per case generated lazily)."""
    params = {"period": period, "county": county, "fallback": fallback}
    in_county = f"SELECT * FROM ({CASES_SQL}) c WHERE c.county = :county"
    cases = warehouse.query_df(in_county + " ORDER BY c.township_code, c.school_code, c.person_key", params)
    keys_sql = f"SELECT person_key, id_number, student_no, school_code, township_code FROM ({in_county}) o"
    # one itertuples per frame: per-case .loc or per-case frames cost 0.1–2 ms a case
    who = {p.person_key: p for p in people(warehouse, keys_sql, params).itertuples(index=False)}
    history = warehouse.query_df(HISTORY_SQL.format(keys=keys_sql), params)
    by_person: dict[str, list] = {}
    for e in history.itertuples(index=False):
        by_person.setdefault(e.person_key, []).append(e)
    del history
    label = month_label(period)
    plan, index_rows = [], []
    for i, case in enumerate(cases.itertuples(index=False), start=1):
        p = who[case.person_key]
        name = _text(p.name) or "（无姓名）"
        sheet_name = _sheet_name(i, name)
        index_rows.append([i, _text(p.township_name), _text(p.school_name), name, _text(p.id_number),
                           STATE_LABELS.get(case.state, case.state), int(case.attempt_count), sheet_name])
        plan.append((sheet_name, name, case, p))
    index = Sheet(
        name="目录", title=f"{district}{label}控辍保学一生一表（在册案件 {len(index_rows)} 件）",
        subtitle_lines=[f"统计期间：{label}    单位：人"],
        headers=["序号", "乡镇（街道）", "学校", "姓名", "身份证件号", "当前状态", "劝返次数", "工作表"],
        rows=index_rows, totals=["合计", "", "", len(index_rows), "", "", "", ""],
        footer_lines=FOOTER, widths=[6, 14, 30, 10, 22, 18, 9, 14],
    )

    def sheets() -> Iterator[Sheet]:
        yield index
        for sheet_name, name, case, p in plan:
            yield _case_sheet(district, period, sheet_name, name, case, p, by_person.get(case.person_key, []))

    return len(index_rows), sheets()


def _file_part(name: str) -> str:
    return re.sub(r'[\\/:*?"<>|\s]', "_", str(name))


@dg.asset(pool=WAREHOUSE_POOL, key=R3, deps=[CASE_EVENTS, STAGED["registry"], STAGED["census"], STAGED["reference"]],
          group_name="reports", owners=OWNERS, partitions_def=monthly_partitions, kinds={"excel"},
          code_version="2")
def r3_one_student_one_form(context: dg.AssetExecutionContext, home: KongchuoHome,
                            warehouse: WarehouseResource) -> dg.MaterializeResult:
    """R3 一生一表 One student, one form: one sheet per case open at the month's end with the child's
    particulars and the whole history of the case (every ledger event with reason, evidence and source file);
    one workbook per county."""
    period = period_of(context)
    replace_cells(warehouse, period, REPORT_ID, f"""
        SELECT :period, :report, coalesce(school_code, 'unknown'), 'open_cases', person_key
        FROM ({OPEN_CASES_SQL}) o""", {"period": period})
    home_district = current_district(warehouse)
    counties = [str(c) for c in warehouse.query_df(
        f"SELECT DISTINCT county FROM ({CASES_SQL}) c ORDER BY county",
        {"period": period, "fallback": home_district})["county"]]
    label = month_label(period)
    folder = home.reports(period)
    written: list[tuple[Path, str, int]] = []
    if set(counties) <= {home_district}:  # one county (or no open case): one workbook, the usual name
        targets = [(home_district, report_path(home, warehouse, period, TITLE))]
    else:
        targets = [(c, folder / f"{_file_part(district_name(c))}_{label}_{TITLE}.xlsx") for c in counties]
    for county, path in targets:
        n, sheets = county_sheets(warehouse, period, county, home_district, district_name(county))
        written.append((path, write_workbook(path, sheets), n))
    # Counties with no open case this time: an older R3 workbook of the period must not linger.
    keep = {p.name for p, _, _ in written}
    for old in folder.glob(f"*_{label}_{TITLE}.xlsx") if folder.exists() else []:
        if old.name not in keep:
            old.unlink()
    total = sum(n for _, _, n in written)
    context.log.info(f"R3 {period}: {total} open cases in {len(written)} workbook(s)")
    path, sha, _ = written[0]
    meta = report_metadata(path, sha, total, warehouse, period) if len(written) == 1 else {
        "path": dg.MetadataValue.path(str(folder)), "dagster/row_count": total,
        **source_files_metadata(warehouse, period)}
    meta["open_cases"] = total
    meta["workbooks"] = len(written)
    meta["files"] = dg.MetadataValue.json([{"path": str(p), "sha256": h, "open_cases": n} for p, h, n in written])
    return dg.MaterializeResult(metadata=meta)
