"""Drill-down for auditors: from one number of a report to its cases and their source rows.

``kongchuo explain --period 2026-06 --report R1 --row <row> --column <column> [--format text|csv]``

A question names a period, a report (R1, R2, R4, R6: the reports whose numbers are counts of
``reports.cells``), a row and a column, in the words of the workbook or as keys:

- row: a school code or school name (R1, R4, R6), a township name or ``township:<code>`` (R1: the township's
  out-of-school row is ``township:<code>``, a township NAME means its 小计 = every school of the township plus
  that row; R2: the township's row), or ``合计``/``total`` for the totals row;
- column: the key of ``reports.cells`` (``suspected``, ``SD1`` …) or the Chinese header as printed
  (``疑似辍学人数``, ``其中：连续或累计旷课`` or ``连续或累计旷课``; R2's two-level headers as ``疑似辍学人数/小学``).

A wrong question is refused with the valid choices (:class:`QuestionError`, exit status 2): an unknown period,
report, row or column never answers "0 cases". Each case prints the rule(s) that fired, the masked ID and its
evidence rows: source file name and row number (plus date and status for roll-call rows). Full ID numbers and
names are never printed.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from assets import report_r1, report_r2
from kongchuo import settings
from kongchuo.labels import ATTENDANCE_STATUS_LABELS, RULE_NAMES, SOURCE_LABELS, STATUS_LABELS
from kongchuo.masking import mask_id
from kongchuo.reports_catalog import REPORT_NAMES
from kongchuo.sources import RESIDENCE_STATUS
from warehouse.partitions import period_bounds
from warehouse.resource import WarehouseResource

# The reports whose numbers are counts of reports.cells, by their one Chinese name.
REPORTS = {k: REPORT_NAMES[k] for k in ("R1", "R2", "R4", "R6")}
RESIDENCE_LABELS = {code: word for word, code in RESIDENCE_STATUS.items() if word != "正常"}
TOTAL_ROWS = ("合计", "总计", "total", "*")
TOWNSHIP_PREFIX = "township:"
# What a column's cases are when no SD rule explains them (R1 persuasion, 失学, R2, R4, R6).
COLUMN_MEANING = {
    "enrolled": "在籍学生", "attempts": "劝返记录", "returned": "劝返已返校", "out_of_school": "失学（户籍比对，无学籍）",
    "verify_elsewhere": "外出待核实（户籍外出，无学籍）", "escalated": "劝返3次及以上未返校，已上报",
    "home_taught": "送教上门对象", "compliant": "送教达标", "non_compliant": "送教未达标",
    "school_age": "户籍适龄儿童", "still_out": "尚未返校（入学）",
}


class QuestionError(ValueError):
    """A question that names no existing period, report, row or column; the message lists the choices."""


@dataclass
class Evidence:
    source: str
    file: str
    row_no: int
    detail: str = ""


@dataclass
class Case:
    case_key: str
    masked_id: str
    rules: list[str]
    evidence: list[Evidence] = field(default_factory=list)


@dataclass
class Answer:
    period: str
    report: str
    rows: list[str]
    row_label: str
    column: str
    column_label: str
    cases: list[Case]


def _grouped(columns) -> list[tuple[str, str, str]]:
    """(key, label, group) with each group header carried over the columns after it until the next one."""
    out, group = [], ""
    for key, label, grp in columns:
        group = grp or group
        out.append((key, label, group))
    return out


def _report_columns(report: str) -> list[tuple[str, str, str]]:
    """(key, header as printed, group header above it) of a report's count columns, from the report modules."""
    if report == "R1":
        groups = getattr(report_r1, "GROUPS", {})
        return _grouped((k, label, groups.get(k, "")) for k, label in report_r1.COLUMNS)
    if report == "R2":
        cols = [c for c in _grouped(report_r2.COLUMNS) if c[0] != "rate"]
        return [*cols, ("escalated", "已报联控联保工作组人数", "备注")]  # the number printed in 备注
    if report == "R4":
        return [("escalated", "劝返无效上报人数", ""), ("new_this_month", "本月新增", "")]
    return [("home_taught", "送教对象人数", ""), ("compliant", "达标人数", ""), ("non_compliant", "未达标人数", "")]


def _norm(text: str) -> str:
    return "".join(str(text).split()).replace("（", "(").replace("）", ")").replace("其中：", "").replace("其中:", "")


def _short(group: str) -> str:
    """A group header without its parenthetical note: 疑似辍学人数（每人按首个触发规则计一次） → 疑似辍学人数."""
    return _norm(group).split("(")[0]


def _display(label: str, group: str) -> str:
    return f"{_short(group)}/{label}" if group and _short(group) != _norm(label) else label


def resolve_column(report: str, column: str) -> tuple[str, str]:
    """A column by key, by header as printed (with or without 其中：), as 组/列 for two-level headers, or by a
    group header alone (its first column, e.g. R1's 疑似辍学人数 → its 合计)."""
    cols = _report_columns(report)
    wanted = _norm(column)
    by_rule: list[tuple[str, str, str]] = []
    for key, label, group in cols:
        shown = {_norm(_display(label, group)), f"{_norm(group)}/{_norm(label)}" if group else _norm(label)}
        if column == key or wanted in shown or (wanted == _norm(label) and _norm(label) != "合计"):
            by_rule.append((key, label, group))
    if len({c[0] for c in by_rule}) != 1:
        first_of_group = {}
        for key, label, group in cols:
            first_of_group.setdefault(_short(group), (key, label, group)) if group else None
        by_rule = [first_of_group[wanted]] if wanted in first_of_group else [
            c for c in cols if _norm(c[1]) == wanted]
    if len({c[0] for c in by_rule}) == 1:
        key, label, group = by_rule[0]
        return key, _display(label, group)
    choices = "\n".join(f"  {key:<18} {_display(label, group)}" for key, label, group in cols)
    raise QuestionError(f"{report} 没有列「{column}」（或不止一列叫这个名字）。可用的列（键 / 表头）：\n{choices}")


def _valid_periods(warehouse: WarehouseResource) -> list[str]:
    return warehouse.query_df("SELECT DISTINCT period FROM reports.cells ORDER BY period")["period"].tolist()


def _row_names(warehouse: WarehouseResource) -> tuple[dict[str, str], dict[str, str]]:
    """(school code → name, township code → name) from the reference data."""
    schools = warehouse.query_df("SELECT school_code, school_name FROM staged.schools")
    towns = warehouse.query_df("SELECT township_code, township_name FROM staged.townships")
    return (dict(zip(schools["school_code"], schools["school_name"])),
            dict(zip(towns["township_code"], towns["township_name"])))


def resolve_rows(warehouse: WarehouseResource, period: str, report: str, row: str) -> tuple[list[str], str]:
    """The ``row_key`` values a row of the workbook stands for, and its label."""
    present = warehouse.query_df(
        "SELECT DISTINCT row_key FROM reports.cells WHERE period = :p AND report = :r ORDER BY row_key",
        {"p": period, "r": report})["row_key"].tolist()
    schools, towns = _row_names(warehouse)
    if row.strip().lower() in TOTAL_ROWS:
        return present, "合计"
    if row in present or row in schools:
        return [row], schools.get(row, row)
    if row.startswith(TOWNSHIP_PREFIX) and row[len(TOWNSHIP_PREFIX):] in towns:
        return [row], towns[row[len(TOWNSHIP_PREFIX):]]
    by_school = [code for code, name in schools.items() if name == row.strip()]
    if len(by_school) == 1:
        return by_school, row.strip()
    by_town = [code for code, name in towns.items() if name == row.strip()]
    if len(by_town) == 1:
        code = by_town[0]
        if report == "R2":
            return [TOWNSHIP_PREFIX + code], row.strip()
        school_codes = warehouse.query_df("SELECT school_code FROM staged.schools WHERE township_code = :t",
                                          {"t": code})["school_code"].tolist()
        return [*school_codes, TOWNSHIP_PREFIX + code], f"{row.strip()} 小计"
    labels = []
    for key in present[:40]:
        name = schools.get(key) or towns.get(key.removeprefix(TOWNSHIP_PREFIX), "")
        labels.append(f"  {key:<22} {name}")
    more = f"\n  …… 共 {len(present)} 行" if len(present) > 40 else ""
    ambiguous = "（同名学校或乡镇不止一个，请用代码）" if len(by_school) > 1 or len(by_town) > 1 else ""
    raise QuestionError(f"{report} {period} 没有行「{row}」{ambiguous}。可用学校/乡镇名称、代码，或「合计」。"
                        f"有数据的行：\n" + "\n".join(labels) + more)


def _file_names(warehouse: WarehouseResource) -> dict[str, str]:
    df = warehouse.query_df("SELECT file_sha, original_name FROM raw.files")
    return dict(zip(df["file_sha"], df["original_name"]))


def _person_of(case_key: str) -> tuple[str, str]:
    person, _, when = case_key.partition("@")
    return person, when


def _rules_of(warehouse: WarehouseResource, period: str, report: str, persons: list[str]) -> dict[str, list[str]]:
    if not persons:
        return {}
    table = "derived.quarterly_suspected" if report == "R2" else "derived.suspected_dropouts"
    df = warehouse.query_df(f"SELECT person_key, rules FROM {table} WHERE period = :p", {"p": period})
    out: dict[str, set[str]] = {}
    for key, rules in df.itertuples(index=False):
        out.setdefault(key, set()).update(r for r in str(rules).split(",") if r)
    return {k: sorted(v) for k, v in out.items()}


def _evidence(warehouse: WarehouseResource, period: str, person: str, column: str, when: str,
              names: dict[str, str]) -> list[Evidence]:
    """Source rows behind one case: the registry record(s), the month's roll-call rows that are not plain
    presence, the census row, casework, or home-teaching visits, by what the column counts."""
    start, end = period_bounds(period)
    p = {"k": person, "g": "G" + person, "start": start, "end": end}
    found: list[Evidence] = []

    def add(source: str, sql: str, detail) -> None:
        for row in warehouse.query_df(sql, p).to_dict("records"):
            found.append(Evidence(SOURCE_LABELS[source], names.get(row["file_sha"], row["file_sha"][:12]),
                                  int(row["row_no"]), detail(row)))

    person_match = "(id_number = :k OR student_no = :k OR student_no = :g)"
    if column in ("out_of_school", "verify_elsewhere", "school_age"):
        add("census", "SELECT file_sha, row_no, residence_status FROM staged.census_current "
                      "WHERE id_number = :k ORDER BY row_no", lambda r: f"居住状态 {RESIDENCE_LABELS.get(r['residence_status'], r['residence_status'] or '')}")
        return found
    if column in ("attempts", "returned", "escalated"):
        extra = " AND CAST(attempt_date AS TEXT) = :when" if when else ""
        p["when"] = when
        upto = "attempt_date <= :end" if column == "escalated" else "attempt_date BETWEEN :start AND :end"
        add("casework", f"SELECT file_sha, row_no, attempt_date, result FROM staged.casework WHERE id_number = :k "
                        f"AND {upto}{extra} ORDER BY attempt_date, row_no",
            lambda r: f"{r['attempt_date']} {'已返校' if r['result'] == 'returned' else '未返校'}")
        return found
    if column in ("home_taught", "compliant", "non_compliant"):
        add("home_teaching", "SELECT file_sha, row_no, visit_date, class_hours FROM staged.home_teaching "
                             "WHERE id_number = :k AND visit_date BETWEEN :start AND :end ORDER BY visit_date, row_no",
            lambda r: f"{r['visit_date']} {r['class_hours']} 课时")
        return found
    add("registry", f"SELECT file_sha, row_no, school_code, status FROM staged.registry_current WHERE {person_match} "
                    f"ORDER BY school_code, row_no", lambda r: f"学校 {r['school_code']} 学籍状态 "
                    f"{STATUS_LABELS.get(r['status'], r['status'] or '')}")
    if column != "enrolled":
        add("attendance", f"SELECT file_sha, row_no, date, status FROM staged.attendance_current "
                          f"WHERE {person_match} AND date BETWEEN :start AND :end AND status <> 'present' "
                          f"ORDER BY date, row_no",
            lambda r: f"{r['date']} {ATTENDANCE_STATUS_LABELS.get(r['status'], r['status'])}")
    return found


def answer(period: str, report: str, row: str, column: str, warehouse: WarehouseResource | None = None,
           with_evidence: bool = True) -> Answer:
    warehouse = warehouse or WarehouseResource(url=settings.warehouse_url())
    report = report.strip().upper()
    if report not in REPORTS:
        raise QuestionError(f"没有报表「{report}」可追溯。可用：" + "、".join(f"{k} {v}" for k, v in REPORTS.items()))
    periods = _valid_periods(warehouse)
    if period not in periods:
        raise QuestionError(f"期间「{period}」没有已生成的报表。已生成的期间：{'、'.join(periods) or '（无）'}")
    key, label = resolve_column(report, column)
    rows, row_label = resolve_rows(warehouse, period, report, row)
    marks = ", ".join(f":r{i}" for i in range(len(rows))) or "NULL"
    params = {"p": period, "rep": report, "col": key, **{f"r{i}": r for i, r in enumerate(rows)}}
    keys = warehouse.query_df(
        f"SELECT DISTINCT case_key FROM reports.cells WHERE period = :p AND report = :rep AND column_key = :col "
        f"AND row_key IN ({marks}) ORDER BY case_key", params)["case_key"].tolist()
    persons = sorted({_person_of(k)[0] for k in keys})
    rules = _rules_of(warehouse, period, report, persons)
    names = _file_names(warehouse) if with_evidence else {}
    cases = []
    for case_key in keys:
        person, when = _person_of(case_key)
        fired = [r for r in rules.get(person, []) if key in ("suspected", r) or not key.startswith("SD")]
        if key.startswith("SD"):
            fired = [key] + [r for r in rules.get(person, []) if r != key]
        cases.append(Case(case_key, mask_id(person) + (f"@{when}" if when else ""), fired,
                          _evidence(warehouse, period, person, key, when, names) if with_evidence else []))
    return Answer(period, report, rows, row_label, key, label, cases)


def _rule_text(case: Case, column: str) -> str:
    if case.rules:
        return "、".join(f"{r} {RULE_NAMES.get(r, r)}" for r in case.rules)
    return COLUMN_MEANING.get(column, column)


def format_text(ans: Answer) -> str:
    lines = [f"{ans.report} {REPORTS[ans.report]} {ans.period}  行：{ans.row_label}  列：{ans.column_label}"
             f"（{ans.column}）  共 {len(ans.cases)} 人/次"]
    for case in ans.cases:
        lines.append(f"  {case.masked_id}  规则：{_rule_text(case, ans.column)}")
        for ev in case.evidence:
            lines.append(f"      {ev.source}  {ev.file}  第 {ev.row_no} 行  {ev.detail}".rstrip())
        if not case.evidence and ans.column == "SD5":
            lines.append("      本月无任何考勤记录")
    return "\n".join(lines)


def format_csv(ans: Answer) -> str:
    buf = io.StringIO()
    out = csv.writer(buf)
    out.writerow(["期间", "报表", "行", "列", "个案", "规则", "来源", "文件", "行号", "说明"])
    for case in ans.cases:
        base = [ans.period, ans.report, ans.row_label, ans.column_label, case.masked_id, _rule_text(case, ans.column)]
        for ev in case.evidence or [Evidence("", "", 0, "")]:
            out.writerow([*base, ev.source, ev.file, ev.row_no or "", ev.detail])
    return buf.getvalue()


def cell_cases(warehouse: WarehouseResource, period: str, report: str, row: str, column: str) -> list[str]:
    """Case keys of one cell, by keys exactly as stored in ``reports.cells``."""
    df = warehouse.query_df(
        "SELECT DISTINCT case_key FROM reports.cells WHERE period = :p AND report = :r AND row_key = :row "
        "AND column_key = :col ORDER BY case_key", {"p": period, "r": report, "row": row, "col": column})
    return df["case_key"].tolist()


def explain(period: str, report: str, row: str, column: str, warehouse: WarehouseResource | None = None,
            fmt: str = "text") -> str:
    ans = answer(period, report, row, column, warehouse)
    return format_csv(ans) if fmt == "csv" else format_text(ans)
