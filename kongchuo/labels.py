"""Chinese for every code a report shows: the one mapping from canonical English codes to what a clerk reads.

Canonical values are English snake_case inside the warehouse (``visit``, ``attendance``, ``SD1``); reports,
the portal and the 说明 block of each workbook print them with these labels. Also the report-wide styles:
periods as ``2026年06月`` / ``2026年第二季度`` (:func:`period_label`), grades as 一年级…九年级 for every
stage (:func:`grade_label`: one style for primary and junior middle school, so a 九年一贯制 school's list
reads the same from grade 1 to 9), and the issuing unit of a district (:func:`issuing_unit`).
"""

from __future__ import annotations

import csv
import functools
import re
from pathlib import Path
from typing import Any, Iterable

from kongchuo.districts import district_name, month_label
from kongchuo.sources import ATTENDANCE_STATUS, CASE_METHOD, CASE_RESULT, EXEMPTION_KIND, REGISTRY_STATUS_LABEL

# Inverse of the ingest vocabularies: canonical code -> the Chinese word the exports use.
CASE_METHOD_LABELS: dict[str, str] = {code: word for word, code in CASE_METHOD.items()}
CASE_RESULT_LABELS: dict[str, str] = {code: word for word, code in CASE_RESULT.items()}
EXEMPTION_KIND_LABELS: dict[str, str] = {code: word for word, code in EXEMPTION_KIND.items()}
ATTENDANCE_STATUS_LABELS: dict[str, str] = {"present": "出勤", "sick_leave": "病假", "personal_leave": "事假",
                                            "unexcused": "旷课"}
assert set(ATTENDANCE_STATUS_LABELS) == set(ATTENDANCE_STATUS.values())
STATUS_LABELS: dict[str, str] = dict(REGISTRY_STATUS_LABEL)

SOURCE_LABELS: dict[str, str] = {"registry": "学籍", "attendance": "考勤", "census": "户籍人口",
                                 "casework": "劝返记录", "exemptions": "延缓入学/休学", "home_teaching": "送教上门",
                                 "reference": "参考数据", "ledger": "台账"}

# Suspected-dropout rules (DESIGN.md): short names for column headers, one sentence for the 说明 block.
RULE_ORDER: tuple[str, ...] = ("SD4", "SD3", "SD6", "SD2", "SD1", "SD5")  # R1 counts each child under the first
RULE_NAMES: dict[str, str] = {
    "SD1": "连续或累计旷课",
    "SD2": "开学未返校",
    "SD3": "转出未接收",
    "SD4": "学籍状态为辍学",
    "SD5": "空挂学籍",
    "SD6": "小升初未升学",
}
RULE_EXPLANATIONS: dict[str, str] = {
    "SD1": "本月无故旷课连续3个上课日及以上，或累计10天及以上",
    "SD2": "开学后前10个上课日一天也未到校",
    "SD3": "学籍转出超过30天仍未被任何学校接收",
    "SD4": "学籍系统中学籍状态为“辍学”",
    "SD5": "有在读学籍，但本月在任何学校都没有考勤记录",
    "SD6": "六年级毕业后，秋季开学30天仍未在任何学校注册初中学籍",
}

# Person/record consistency checks listed in the R5 fix lists.
CHECK_LABELS: dict[str, str] = {"DQ01": "身份证件号无效", "DQ02": "出生日期或性别与证件号不符",
                                "DQ03": "必填项缺失或无法识别", "DQ04": "重复学籍", "DQ05": "人在籍不在校",
                                "DQ06": "在校无籍", "DQ07": "年龄年级不符", "DQ08": "代码不在参考数据中",
                                "DQ09": "数据量异常变化", "DQ10": "数据未覆盖统计期间"}
# Why an ID number is invalid (kongchuo.idnumber.problem_series), for DQ01 finding texts.
ID_PROBLEM_LABELS: dict[str, str] = {"missing": "缺失", "length": "不是18位", "chars": "含非法字符",
                                     "check_digit": "校验码错误", "birth_date": "出生日期无效",
                                     "region": "行政区划代码无效"}
CHECK_EXPLANATIONS: dict[str, str] = {
    "DQ04": "同一身份证件号在两所及以上学校有在读学籍（重复学籍），请核实并注销多余学籍",
    "DQ05": "有在读学籍但本月在本校无任何考勤记录（人在籍不在校、空挂学籍），请核实学生去向：在校的补录考勤，"
            "不在校的按转学或辍学程序办理",
    "DQ06": "本月在本校有考勤记录但无在读学籍（在校无籍），请核实身份并办理学籍注册或转入手续",
    "DQ07": "年龄与所在年级不符（8月31日周岁减年级不在5至8之间），请核实出生日期、身份证件号或年级",
}

_NUMERALS = "一二三四五六七八九"


def grade_label(grade: Any) -> str:
    """1 -> '一年级' … 9 -> '九年级' (one style for every stage); '' for a missing grade; other values as text."""
    if grade is None or grade == "":
        return ""
    try:
        n = int(float(grade))
    except (TypeError, ValueError):
        return str(grade)
    if n != n:  # NaN
        return ""
    return f"{_NUMERALS[n - 1]}年级" if 1 <= n <= 9 else f"{n}年级"


def grade_label_sql(column: str) -> str:
    """The same label computed in SQL (DuckDB and PostgreSQL), for texts built in the warehouse."""
    cases = " ".join(f"WHEN {n} THEN '{_NUMERALS[n - 1]}年级'" for n in range(1, 10))
    return f"(CASE {column} {cases} ELSE CAST({column} AS TEXT) || '年级' END)"


def period_label(period: str) -> str:
    """'2026-06' -> '2026年06月'; '2026-Q2' -> '2026年第二季度' (the one period style of every report)."""
    return month_label(period)


def period_label_sql(param: str = ":period") -> str:
    """:func:`period_label` of a monthly period parameter, in SQL."""
    return f"(substr({param}, 1, 4) || '年' || substr({param}, 6, 2) || '月')"


def rule_label(rule: str) -> str:
    """'SD1' -> 'SD1 连续或累计旷课'."""
    return f"{rule} {RULE_NAMES[rule]}" if rule in RULE_NAMES else rule


def rules_text(rules: str | None) -> str:
    """'SD1,SD5' -> 'SD1 连续或累计旷课、SD5 空挂学籍'."""
    return "、".join(rule_label(r.strip()) for r in str(rules or "").split(",") if r.strip())


def rule_legend(rules: Iterable[str] = RULE_ORDER) -> list[str]:
    """The 说明 lines explaining rule codes, one line per rule."""
    return [f"{r}（{RULE_NAMES[r]}）：{RULE_EXPLANATIONS[r]}" for r in rules]


_CODE_WORDS: dict[str, str] = {**CASE_METHOD_LABELS, **CASE_RESULT_LABELS, **SOURCE_LABELS,
                               **EXEMPTION_KIND_LABELS}
_RULES_PHRASE = re.compile(r"(规则\s*)?\b(SD[1-6](?:\s*,\s*SD[1-6])*)\b")
_WORD = re.compile(r"\b[a-z][a-z_]+\b")


def translate(text: Any) -> str:
    """A free text stored with codes (a ledger event's evidence 'visit，镇政府，厌学' or '规则 SD1,SD5') in
    Chinese: code words replaced by their labels, rule lists spelled out ('规则：SD1 连续或累计旷课、SD5 空挂学籍')."""
    if text is None:
        return ""
    s = str(text)
    if not s:
        return s
    s = _WORD.sub(lambda m: _CODE_WORDS.get(m.group(0), m.group(0)), s)
    return _RULES_PHRASE.sub(lambda m: ("规则：" if m.group(1) else "") + rules_text(m.group(2)), s)


def source_label(source: Any) -> str:
    return SOURCE_LABELS.get(str(source), "" if source is None else str(source))


BUNDLED_DISTRICTS = Path(__file__).parent / "reference" / "districts.csv"


def issuing_unit(district_code: str, reference: Path | None = None) -> str:
    """The unit that issues a district's reports: ``issuing_unit`` of ``districts.csv`` (the bureau's own under
    KONGCHUO_HOME/reference, else the bundled one: 建安区教育体育局), default '<地区>教育局'."""
    path = Path(reference or BUNDLED_DISTRICTS)
    units = _issuing_units(str(path), path.stat().st_mtime_ns if path.exists() else 0)
    return units.get(str(district_code)) or f"{district_name(str(district_code))}教育局"


@functools.lru_cache(maxsize=8)
def _issuing_units(path: str, mtime_ns: int) -> dict[str, str]:  # mtime: a replaced file is read again
    p = Path(path)
    if not p.exists():
        return {}
    with open(p, encoding="utf-8-sig", newline="") as fh:
        return {row["district_code"].strip(): (row.get("issuing_unit") or "").strip()
                for row in csv.DictReader(fh) if (row.get("district_code") or "").strip()}
