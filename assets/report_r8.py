"""R8 学籍异动梳理: every registry change of the term with its verdict, one workbook per township (a summary sheet
of its schools, then one sheet per school), and a district summary workbook (counts per school, still to review).

Jian'an's plan ((二)2): within two months of each term's start every school reviews all of its registry changes;
the deadline (term start + 2 months) is in every title. Built by the monthly job and by ``registry_changes_job``
(weekly from the term's start, and a final run at the deadline: pipelines/schedules.py).

Like R5, the school sheets carry full ID numbers and names (a school must find the record), each with its school
code as the sheet-scoped defined name ``KC_SCHOOL_CODE``, so the portal gives a school only its own sheet.
Nothing personal goes to Dagster metadata or logs.
"""

from collections import Counter
from itertools import groupby

import dagster as dg
import pandas as pd

from assets.fix_list import school_code_label, school_sheet_names
from assets.registry_changes import KINDS, REGISTRY_CHANGES, VERDICT_REVIEW, review_term
from assets.report_files import file_part
from assets.report_skeleton import Built, ReportRun, ReportSpec, period_files, register_report
from kongchuo.districts import month_label
from kongchuo.excel import Sheet
from kongchuo.labels import grade_label
from kongchuo.reports_catalog import R8_COLUMNS, REPORT_NAMES
from kongchuo.sources import REGISTRY_STATUS_LABEL
from warehouse import sql

R8 = dg.AssetKey(["reports", "r8_registry_changes"])
REPORT_TITLE = REPORT_NAMES["R8"]
FILE_SUFFIX = f"_{REPORT_TITLE}_"
DISTRICT_PART = "全区汇总"  # the district summary workbook's last name part (no township)

HEADERS = ("序号", "异动类型", "全国学籍号", "身份证件号", "姓名", "原年级", "现年级", "原学籍状态", "现学籍状态",
           "原快照日期", "新快照日期", "核查结论", "核查说明及整改要求", "原记录来源（文件/行号）",
           "新记录来源（文件/行号）")
WIDTHS = (6, 8, 22, 22, 10, 8, 8, 10, 10, 12, 12, 8, 40, 30, 30)
WRAP_COLUMNS = (12, 13, 14)
SUMMARY_HEADERS = ("序号", "乡镇", "学校标识码", "学校名称", *KINDS, "异动合计", "需核实", "一致")
SUMMARY_WIDTHS = (6, 14, 14, 28, *([6] * len(KINDS)), 8, 8, 8)
# Column keys of the summary (reports.cells and the lineage of kongchuo/lineage.py): kind words, then totals.
SUMMARY_COLUMNS = R8_COLUMNS
LEGEND = ("说明：1. 本表列出本学期开学以来学校相邻两次学籍快照之间变化的每条学籍记录（新增、转入、转出、休学、复学、"
          "升级、毕业、辍学、死亡、删除；删除指记录从本校快照中消失且未办转出），并与考勤、延缓入学/休学审批和户籍人口"
          "核对。2. “需核实”的记录请学校在梳理截止日期前核实整改：转出后仍在本校出勤或30天未被接收；休学无审批或仍有出勤；"
          "复学后无出勤；非毕业年级毕业；跳级或留级；删除的学籍仍在户籍学龄儿童名单中。3. “来源文件/行号”指出记录所在的"
          "学籍上报文件及其行。")
PRIVACY = "说明：本表含学生身份证件号和姓名，仅供学校核实整改，请妥善保管，不得外传。"

SQL_FILES = ("reports/r8_rows", "reports/r8_schools", "reports/r8_cells")  # policies: code_version
ROWS_SQL = sql.load("reports/r8_rows")  # every change of the period with school, name and source files

SCHOOLS_SQL = sql.load("reports/r8_schools")

CELLS_SQL = sql.load("reports/r8_cells")


def _date(v) -> str:
    return "" if v is None or pd.isna(v) else pd.Timestamp(v).strftime("%Y-%m-%d")


def _source(file, row) -> str:
    if not isinstance(file, str):
        return ""
    return f"{file} 第{int(row)}行" if row is not None and not pd.isna(row) else file


def _status(v) -> str:
    return REGISTRY_STATUS_LABEL.get(v, "") if isinstance(v, str) else ""


def change_rows(rows: list) -> list[list]:
    """The body of one school's sheet."""
    return [[i, r.kind, r.student_no or "", r.id_number or "", r.name or "", grade_label(None if pd.isna(r.old_grade)
             else int(r.old_grade)), grade_label(None if pd.isna(r.new_grade) else int(r.new_grade)),
             _status(r.old_status), _status(r.new_status), _date(r.old_snapshot_date), _date(r.new_snapshot_date),
             r.verdict, r.reason or "", _source(r.old_file, r.old_row_no), _source(r.new_file, r.new_row_no)]
            for i, r in enumerate(rows, start=1)]


def summary_row(i: int, town: str, code: str, name: str, rows: list) -> list:
    kinds = Counter(r.kind for r in rows)
    review = sum(1 for r in rows if r.verdict == VERDICT_REVIEW)
    return [i, town, code, name, *(kinds.get(k, 0) for k in KINDS), len(rows), review, len(rows) - review]


def _totals(body: list[list]) -> list:
    return ["合计", "", "", f"{len(body)} 所学校", *(sum(r[4 + j] for r in body) for j in range(len(KINDS) + 3))]


def build(run: ReportRun) -> Built:
    """A workbook per township with changes (its summary sheet, then a sheet per school), and the district
    summary workbook."""
    warehouse, period, home, context = run.warehouse, run.period, run.home, run.context
    term, deadline = review_term(warehouse, period)
    rows = warehouse.query_df(ROWS_SQL, {"p": period})
    kind_order = {k: i for i, k in enumerate(KINDS)}
    if len(rows):
        rows = rows.assign(township_code=rows["ref_township"].fillna(rows["township_code"]).fillna("unknown"),
                           township_name=rows["township_name"].fillna("未知乡镇"),
                           school_name=rows["school_name"].fillna(rows["school_code"]),
                           _k=rows["kind"].map(kind_order))
        rows = rows.sort_values(["township_code", "school_code", "new_snapshot_date", "_k", "person_key"],
                                kind="stable")
    schools = warehouse.query_df(SCHOOLS_SQL)
    schools = schools.assign(township_code=schools["township_code"].fillna("unknown"),
                             township_name=schools["township_name"].fillna("未知乡镇"),
                             school_name=schools["school_name"].fillna(schools["school_code"]))

    folder = home.reports(period)
    district = run.district()
    label = month_label(period)
    term_label = f"{term.first_day.year}年{'秋季' if term.name.endswith('autumn') else '春季'}学期"
    due = f"{deadline.year}年{deadline.month:02d}月{deadline.day:02d}日"
    heading = f"{district}{term_label}{REPORT_TITLE}（{due}前完成）"
    period_line = (f"学期开学：{term.first_day:%Y-%m-%d}　梳理截止：{deadline:%Y-%m-%d}　"
                   f"统计至：{label}末（{period}）")

    by_school = {code: list(g) for code, g in groupby(rows.itertuples(index=False), key=lambda r: r.school_code)}
    # every school of the registry, plus any school that only appears in a change
    listed = {r.school_code: (r.township_code, r.township_name, r.school_name) for r in schools.itertuples(index=False)}
    for code, rs in by_school.items():
        listed.setdefault(code, (rs[0].township_code, rs[0].township_name, rs[0].school_name))
    ordered = sorted(listed.items(), key=lambda kv: (kv[1][0], kv[0]))

    written = []  # each with its township code (None: the district summary), for the manifest
    district_body: list[list] = []
    for town, items in groupby(ordered, key=lambda kv: kv[1][0]):
        items = list(items)
        town_name = str(items[0][1][1])
        town_body = [summary_row(i, town_name, code, name, by_school.get(code, []))
                     for i, (code, (_, _, name)) in enumerate(items, start=1)]
        district_body += town_body
        with_changes = [(code, name) for code, (_, _, name) in items if by_school.get(code)]
        if not with_changes:
            continue
        names = school_sheet_names([(code, str(name)) for code, name in with_changes])
        sheets = [Sheet(name="本乡镇汇总", title=f"{heading}（{town_name}汇总）",
                        subtitle_lines=[f"乡镇：{town_name}　{period_line}"],
                        headers=SUMMARY_HEADERS, rows=town_body, widths=SUMMARY_WIDTHS, wrap_columns=(3,),
                        totals=_totals(town_body), footer_lines=["填表人：　　　　审核人：　　　　填报日期：　　　　",
                                                                 LEGEND])]
        for code, name in with_changes:
            sr = by_school[code]
            body = change_rows(sr)
            review = sum(1 for r in sr if r.verdict == VERDICT_REVIEW)
            kinds = Counter(r.kind for r in sr)
            sheets.append(Sheet(
                name=names[code], defined_names=school_code_label(code),
                title=f"{heading}（{name}）",
                subtitle_lines=[f"乡镇：{town_name}　学校标识码：{code}　{period_line}", PRIVACY],
                headers=HEADERS, rows=body, widths=WIDTHS, wrap_columns=WRAP_COLUMNS,
                totals=["合计", f"{len(body)} 条"] + [""] * 10 + [
                    f"需核实 {review} 条。" + "；".join(f"{k} {kinds[k]} 条" for k in KINDS if kinds.get(k)), "", ""],
                footer_lines=["填表人：　　　　审核人：　　　　填报日期：　　　　", LEGEND]))
        written.append(run.write(sheets, folder / f"{file_part(district)}_{label}{FILE_SUFFIX}{file_part(town_name)}.xlsx",
                                 township_code=None if town == "unknown" else str(town)))

    summary = Sheet(name=DISTRICT_PART, title=f"{heading}（{DISTRICT_PART}）", subtitle_lines=[period_line],
                    headers=SUMMARY_HEADERS, rows=district_body, widths=SUMMARY_WIDTHS, wrap_columns=(1, 3),
                    totals=_totals(district_body),
                    footer_lines=["填表人：　　　　审核人：　　　　填报日期：　　　　", LEGEND])
    written.append(run.write([summary], folder / f"{file_part(district)}_{label}{FILE_SUFFIX}{DISTRICT_PART}.xlsx",
                             township_code=None))
    review = int((rows["verdict"] == VERDICT_REVIEW).sum()) if len(rows) else 0
    context.log.info(f"R8 {period} ({term.name}, deadline {deadline}): {len(rows)} change(s), {review} to review, "
                     f"{len(written)} workbook(s)")
    return Built(written, int(len(rows)), {
        "needs_review": review,
        "term": term.name,
        "deadline": deadline.isoformat(),
        "by_kind": dg.MetadataValue.json({k: int(v) for k, v in Counter(rows["kind"]).items()} if len(rows) else {}),
        "period": period,
    })


SPEC = ReportSpec(
    "R8", R8,
    audience="township",
    description="""学籍异动梳理 R8: every registry change of the term since its start with its verdict (一致 / 需核实 and why),
    one workbook per township (summary sheet, then a sheet per school) and a district summary workbook (counts
    per school and how many still need review); the deadline (term start + 2 months) is in every title. The
    school sheets hold full IDs and names; metadata does not.""",
    deps=[REGISTRY_CHANGES, dg.AssetKey(["staged", "registry"]), dg.AssetKey(["staged", "reference"])],
    build=build, cells="r8_cells", kinds=frozenset({"excel"}), listing="files",
    # a township without changes this time: no stale list
    stale_files=lambda run: period_files(run, f"*{FILE_SUFFIX}*.xlsx"))
r8_registry_changes = register_report(SPEC, __name__)

