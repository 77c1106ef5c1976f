"""R5 人籍不一致整改清单: the DQ04–DQ07 findings of a period, one workbook per township, one sheet per school.

This is the one output that carries full ID numbers and names: a school must find the record to fix it.
Nothing personal goes to Dagster metadata or logs — only file paths (township names) and SHA-256 digests.
"""



import re
from collections import Counter
from itertools import groupby

import dagster as dg
import pandas as pd

from assets.report_files import file_part
from assets.report_skeleton import Built, ReportRun, ReportSpec, period_files, register_report
from kongchuo.check_names import CHECK_NAMES, FIX_LIST_CHECK_IDS
from kongchuo.districts import district_name, month_label
from kongchuo.excel import Sheet
from kongchuo.labels import CHECK_EXPLANATIONS, grade_label
from kongchuo.labels import CHECK_LABELS as LABELS_OF_CHECKS
from kongchuo.reports_catalog import REPORT_NAMES
from kongchuo.sources import REGISTRY_STATUS_LABEL
from warehouse.findings import latest_run_findings_sql
from warehouse.resource import WarehouseResource
from warehouse.sql import render

R5 = dg.AssetKey(["reports", "r5_fix_list"])
REPORT_TITLE = REPORT_NAMES["R5"]
FILE_SUFFIX = f"_{REPORT_TITLE}_"

EXPLANATIONS: dict[str, str] = {k: CHECK_EXPLANATIONS[k] for k in FIX_LIST_CHECK_IDS}
CHECK_LABELS = {k: LABELS_OF_CHECKS[k] for k in FIX_LIST_CHECK_IDS}
HEADERS = ("序号", "检查项", "问题类型", "问题说明及整改要求", "全国学籍号", "身份证件号", "姓名", "年级", "班级",
           "学籍状态", "核查详情", "来源文件", "行号")
WIDTHS = (6, 8, 14, 40, 22, 22, 10, 8, 10, 10, 34, 28, 8)
WRAP_COLUMNS = (2, 3, 6, 8, 10, 11)
LEGEND = ("说明：检查项代码 " + "；".join(f"{k} {LABELS_OF_CHECKS[k]}" for k in FIX_LIST_CHECK_IDS)
          + "。“来源文件”“行号”指出问题记录所在的上报文件及其行。")

SQL_FILES = ("fix_list/rows", "checks/latest_run_findings")  # policies: code_version


SCHOOL_CODE_NAME = "KC_SCHOOL_CODE"  # sheet-scoped defined name holding the sheet's school code (portal/catalog.py)
SHEET_NAME_MAX = 31                  # Excel's limit


def _safe_sheet_name(name: str, used: set[str]) -> str:
    base = re.sub(r"[\[\]:*?/\\]", "_", name)[:SHEET_NAME_MAX] or "学校"
    out, i = base, 2
    while out in used:
        tail = f"_{i}"
        out, i = base[: SHEET_NAME_MAX - len(tail)] + tail, i + 1
    used.add(out)
    return out


def school_sheet_names(schools: list[tuple[str | None, str]]) -> dict[str | None, str]:
    """A unique sheet name per (school code, school name) of one workbook. Names that are still the same once
    cut to 31 characters (…实验学校（东校区） / …（西校区）) end with the school code instead, so each sheet
    stays recognisable; the portal never goes by these names (see :func:`school_code_label`)."""
    cut = Counter(re.sub(r"[\[\]:*?/\\]", "_", name)[:SHEET_NAME_MAX] for _, name in schools)
    used: set[str] = set()
    out: dict[str | None, str] = {}
    for code, name in schools:
        clean = re.sub(r"[\[\]:*?/\\]", "_", name)
        if cut[clean[:SHEET_NAME_MAX]] > 1 and code:
            clean = f"{clean[:SHEET_NAME_MAX - len(code) - 1]}_{code}"
        out[code] = _safe_sheet_name(clean, used)
    return out


def school_code_label(school_code: str | None) -> dict[str, str]:
    """The sheet's machine-readable school code (a sheet-scoped defined name), by which the portal decides
    which school receives the sheet."""
    return {SCHOOL_CODE_NAME: school_code} if school_code else {}


def fix_list_rows(warehouse: WarehouseResource, period: str) -> pd.DataFrame:
    """Every DQ04–DQ07 finding of the period's latest check runs, with the record's ID, name and school."""
    return warehouse.query_df(render("fix_list/rows", findings=latest_run_findings_sql(FIX_LIST_CHECK_IDS)),
                              {"p": period})


def build(run: ReportRun) -> Built:
    """One workbook per township (county-qualified names for a multi-county run), one sheet per school."""
    warehouse, period, home = run.warehouse, run.period, run.home
    rows = fix_list_rows(warehouse, period)
    townships = warehouse.query_df(
        "SELECT t.township_code, t.township_name, t.district_code FROM staged.townships t ORDER BY t.township_code")
    folder = home.reports(period)
    region = run.district_code()
    district = district_name(region)
    # several counties (a prefecture or province code, xxxx00): township names repeat across counties
    # (城关镇 ...), so workbooks are named with the county too: 魏都区城关街道
    county_of = dict(zip(townships["township_code"], townships["district_code"])) if region.endswith("00") else {}
    label = month_label(period)
    written = []  # each with its township code, for the manifest (portal scoping by code)
    unplaced = 0
    if len(rows):
        unplaced = int(rows["township_code"].isna().sum())
        rows = rows.assign(township_code=rows["township_code"].fillna("unknown"),
                           township_name=rows["township_name"].fillna("未知乡镇"),
                           school_name=rows["school_name"].fillna(rows["school_code"].fillna("未知学校")))
    # One pass over all findings, grouped in Python: per-school pandas groups (itertuples, value_counts) cost a
    # fixed overhead per school, which a province's thousands of schools multiply.
    ordered = (rows.sort_values(["township_code", "school_code"], kind="stable", na_position="last")
               if len(rows) else rows)
    for town, town_iter in groupby(ordered.itertuples(index=False), key=lambda r: r.township_code):
        town_rows = list(town_iter)
        town_name = str(town_rows[0].township_name)
        if town in county_of:
            town_name = district_name(str(county_of[town])) + town_name
        sheets = []
        sheet_names = school_sheet_names(list(dict.fromkeys(
            (r.school_code if isinstance(r.school_code, str) else None, str(r.school_name)) for r in town_rows)))
        for school, school_iter in groupby(town_rows, key=lambda r: r.school_code if isinstance(r.school_code, str)
                                           else None):
            sr = list(school_iter)
            school_name = str(sr[0].school_name)
            body = []
            for i, r in enumerate(sr, start=1):
                body.append([
                    i, r.check_id, CHECK_LABELS.get(r.check_id, r.check_id), EXPLANATIONS.get(r.check_id, ""),
                    r.student_no or "", r.id_number or "", r.name or "",
                    "" if pd.isna(r.grade) else grade_label(int(r.grade)), r.class_name or "",
                    REGISTRY_STATUS_LABEL.get(r.status, "") if isinstance(r.status, str) else "",
                    r.detail or "", r.original_name or "", "" if pd.isna(r.row_no) else int(r.row_no)])
            by_check = sorted(Counter(r.check_id for r in sr).items())
            sheets.append(Sheet(
                name=sheet_names[school], defined_names=school_code_label(school),
                title=f"{district}{label}{REPORT_TITLE}（{school_name}）",
                subtitle_lines=[f"乡镇：{town_name}　学校标识码：{school}　统计期间：{label}",
                                "说明：本表含学生身份证件号和姓名，仅供学校核实整改，请妥善保管，不得外传。"],
                headers=HEADERS, rows=body, widths=WIDTHS, wrap_columns=WRAP_COLUMNS,
                totals=["合计", f"{len(body)} 条"] + [""] * 2 + [
                    "；".join(f"{CHECK_LABELS.get(k, k)} {v} 条" for k, v in by_check)] + [""] * 8,
                footer_lines=["填表人：　　　　审核人：　　　　填报日期：　　　　", LEGEND],
            ))
        # 草稿 while a delivery of the period is in quarantine (assets/completeness.py)
        written.append(run.write(sheets, folder / f"{file_part(district)}_{label}{FILE_SUFFIX}{file_part(town_name)}.xlsx",
                                 township_code=None if town == "unknown" else str(town)))
    by_check = rows["check_id"].value_counts().to_dict() if len(rows) else {}
    run.context.log.info(f"R5 {period}: {len(rows)} finding(s) in {len(written)} workbook(s)")
    return Built(written, int(len(rows)), {
        "by_check": dg.MetadataValue.json({CHECK_NAMES.get(k, k): int(v) for k, v in by_check.items()}),
        "findings_without_township": unplaced,
        "period": period,
    })


SPEC = ReportSpec(
    "R5", R5,
    audience="township",
    description="""人籍不一致整改清单 R5 fix list: the period's DQ04–DQ07 findings (duplicate registry, registered but
    absent, present but unregistered, age–grade mismatch), one workbook per township and one sheet per
    school, with a plain-Chinese explanation of what to fix. Holds full IDs and names; metadata does not.""",
    deps=[dg.AssetKey(["derived", "roster"]), dg.AssetKey(["staged", "registry"])],
    build=build, kinds=frozenset({"excel"}), listing="files",
    # Townships with no finding this time: an older list of the period must not linger.
    stale_files=lambda run: period_files(run, f"*{FILE_SUFFIX}*.xlsx"))
r5_fix_list = register_report(SPEC, __name__)


fix_list_assets = [r5_fix_list]  # R5 alone (tests/test_checks.py); the definitions take it from the registry
