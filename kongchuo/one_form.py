"""R3 一生一表 of one county from plain columns: the index sheet, one sheet per open case, the workbook.

The asset (:mod:`assets.report_r3`) queries the warehouse; this module turns one county's rows into its
workbook. It imports neither Dagster nor pandas nor the warehouse, so a worker process (``spawn``) starts
in a fraction of a second and can render and compress one county's workbook while the asset's process
queries the next county (only the asset's process touches the warehouse: DuckDB has one writer process).

Input: ``cases`` (one row per open case, in sheet order, with the child's particulars) and ``history`` (the
ledger events of those cases, ordered by person_key, period and sequence), each either a dict of column
lists or anything with ``to_pydict()`` (an Arrow table: pickled to a worker at almost no cost).
"""

from __future__ import annotations

import gc
from itertools import groupby
from operator import itemgetter
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

from kongchuo.districts import month_label
from kongchuo.excel import Sheet, mark_draft, write_workbook
from kongchuo.labels import RULE_ORDER, grade_label, rule_legend, source_label, translate
from kongchuo.reports_catalog import REPORT_NAMES
from kongchuo.sources import REGISTRY_STATUS_LABEL

# Columns the sheets read: the asset selects exactly these.
CASE_COLUMNS = ("person_key", "state", "attempt_count", "id_number", "student_no", "name", "gender", "birth_date",
                "school_code", "school_name", "grade", "class_name", "status", "township_name", "village",
                "guardian_name", "guardian_phone", "is_poverty_family", "is_left_behind", "is_migrant",
                "is_disabled", "is_in_difficulty")
EVENT_COLUMNS = ("person_key", "created_for_period", "event_date", "event_type", "from_state", "to_state", "reason",
                 "evidence", "attempt_count", "source", "source_file")  # source_file: the landing file's name

_GENDER = {"M": "男", "F": "女"}
HEADERS = ["序号", "所属期间", "日期", "事项", "原状态", "新状态", "原因/结果", "依据", "劝返次数", "来源",
           "来源文件"]
WIDTHS = [6, 12, 12, 12, 12, 12, 26, 30, 10, 10, 26]
WRAP_COLUMNS = (3, 4, 5, 6, 7, 9, 10)  # the others hold numbers, periods and dates that fit their width
FOOTER = ["填表人：                审核人：                填报日期："]
INDEX_HEADERS = ["序号", "乡镇（街道）", "学校", "姓名", "身份证件号", "当前状态", "劝返次数", "工作表"]
INDEX_WIDTHS = [6, 16, 30, 10, 22, 20, 10, 14]
LEGEND = ["说明：案件状态依次为疑似辍学、确认辍学、劝返中、已报联控联保工作组（劝返3次及以上仍未返校）、已返校、已销号。"
          "疑似辍学规则：" + "；".join(rule_legend(RULE_ORDER)) + "。"]
_FLAGS = (("is_poverty_family", "脱贫家庭/建档立卡"), ("is_left_behind", "留守儿童"), ("is_migrant", "随迁子女"),
          ("is_disabled", "残疾"), ("is_in_difficulty", "困境儿童"))
_SHEET_UNSAFE = str.maketrans("", "", "\\[]:*?/'")  # dropped from the child's name in the sheet name


def sheet_name(i: int, name: str) -> str:
    return f"{i:03d}{name.translate(_SHEET_UNSAFE)[:20]}"


def _text(value: Any) -> str:
    """'' for NULL; dates as ISO (2026-05-03), numbers as written by str()."""
    if value is None:
        return ""
    return value if type(value) is str else str(value)


def _columns(data: Any) -> Mapping[str, list]:
    return data.to_pydict() if hasattr(data, "to_pydict") else data


def county_sheets(district: str, period: str, state_labels: Mapping[str, str], event_labels: Mapping[str, str],
                  cases: Any, history: Any) -> tuple[int, Iterator[Sheet]]:
    """(number of open cases, the county's sheets: the index, then one sheet per case generated lazily)."""
    c = _columns(cases)
    h = _columns(history)
    label = month_label(period)
    rows = list(zip(*(c[k] for k in CASE_COLUMNS)))
    events: dict[str, list[tuple]] = {
        key: list(group) for key, group in groupby(zip(*(h[k] for k in EVENT_COLUMNS)), key=itemgetter(0))}
    del c, h
    names, index_rows = [], []
    for i, row in enumerate(rows, start=1):
        name = _text(row[5]) or "（无姓名）"
        sheet = sheet_name(i, name)
        names.append((name, sheet))
        index_rows.append([i, _text(row[13]), _text(row[9]), name, _text(row[3]),
                           state_labels.get(row[1], row[1]), int(row[2]), sheet])
    index = Sheet(
        name="目录", title=f"{district}{label}控辍保学{REPORT_NAMES['R3']}（在册案件 {len(index_rows)} 件）",
        subtitle_lines=[f"统计期间：{label}    单位：人"], headers=INDEX_HEADERS,
        rows=index_rows, totals=["合计", "", "", len(index_rows), "", "", "", ""],
        footer_lines=[*FOOTER, *LEGEND], widths=INDEX_WIDTHS,
    )

    def sheets() -> Iterator[Sheet]:
        yield index
        for row, (name, sheet) in zip(rows, names):
            yield _case_sheet(district, label, state_labels, event_labels, sheet, name, row, events.get(row[0], ()))

    return len(index_rows), sheets()


def _case_sheet(district: str, label: str, state_labels: Mapping[str, str], event_labels: Mapping[str, str],
                sheet: str, name: str, p: Sequence[Any], events: Sequence[tuple]) -> Sheet:
    st = state_labels
    rows = [[j, "" if cfp is None else month_label(cfp), "" if day is None else str(day), event_labels.get(kind, kind),
             st.get(before, "" if before is None else before), st.get(after, after),
             translate(reason), translate(evidence), int(attempts), source_label(source),
             "" if file is None else file]
            for j, (_, cfp, day, kind, before, after, reason, evidence, attempts, source, file)
            in enumerate(events, start=1)]
    status = _text(p[12])
    flags = "、".join(text for (_, text), v in zip(_FLAGS, p[17:22]) if v is not None and v) or "无"
    return Sheet(
        name=sheet, title=f"{district}控辍保学一生一表（{name}）",
        subtitle_lines=[
            f"姓名：{name}    性别：{_GENDER.get(_text(p[6]), '')}    "
            f"出生日期：{_text(p[7])}    身份证件号：{_text(p[3])}    "
            f"全国学籍号：{_text(p[4])}",
            f"乡镇（街道）：{_text(p[13])}    村（社区）：{_text(p[14])}    "
            f"学校：{_text(p[9])}（{_text(p[8])}）    年级：{grade_label(p[10])}    "
            f"班级：{_text(p[11])}    学籍状态：{REGISTRY_STATUS_LABEL.get(status, status)}",
            f"监护人：{_text(p[15])}    联系电话：{_text(p[16])}    "
            f"重点群体：{flags}",
            f"当前状态：{st.get(p[1], p[1])}    累计劝返次数：{int(p[2])}    "
            f"统计期间：{label}",
        ],
        headers=HEADERS, rows=rows, footer_lines=FOOTER, widths=WIDTHS, wrap_columns=WRAP_COLUMNS,
    )


def write_county(path: str, district: str, period: str, state_labels: Mapping[str, str],
                 event_labels: Mapping[str, str], cases: Any, history: Any,
                 draft_notice: Sheet | None = None) -> tuple[str, int]:
    """Write one county's workbook to ``path`` (atomically); (its SHA-256, number of open cases). Top-level and
    picklable: the asset runs it in a worker process. ``draft_notice``: the period's inputs are not whole, so
    the workbook is a draft (that sheet first, 【草稿】 titles; passed in because a worker process does not see
    :func:`kongchuo.excel.mark_draft` of the parent)."""
    # The cyclic garbage collector is paused: nothing here makes reference cycles, and with a county's rows
    # alive (many tracked tuples and lists) its full passes took a large share of the county's time.
    enabled = gc.isenabled()
    gc.disable()
    try:
        n, sheets = county_sheets(district, period, state_labels, event_labels, cases, history)
        if draft_notice is not None:
            mark_draft(Path(path), draft_notice)
        return write_workbook(Path(path), sheets), n
    finally:
        if enabled:
            gc.enable()
