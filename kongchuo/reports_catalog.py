"""The one Chinese name of each report: report titles, file names, README and the portal use these.

A report file is ``<地区>_<期间>_<名称>.xlsx`` (``建安区_2026年06月_控辍保学月报.xlsx``); the period style is
:func:`kongchuo.districts.month_label` (``2026年06月``, ``2026年第二季度``) everywhere.
"""

from __future__ import annotations

REPORT_NAMES: dict[str, str] = {
    "R1": "控辍保学月报",
    "R2": "控辍保学排查整改工作情况统计表",
    "R3": "一生一表",
    "R4": "劝返无效上报名单",
    "R5": "人籍不一致整改清单",
    "R6": "送教上门情况表",
    "R7": "每日预警名单",
    "R8": "学籍异动梳理",
}

# What each report is for, in one line (portal lists, README).
REPORT_PURPOSES: dict[str, str] = {
    "R1": "每月失学、疑似辍学、确认辍学及劝返工作情况，按乡镇、学校汇总（每月20日前报送）",
    "R2": "季度排查整改统计（附件2），按乡镇、学段和重点群体（季度末报送）",
    "R3": "每名在册辍学学生一表，含全部台账记录",
    "R4": "劝返3次及以上仍未返校、报联控联保工作组的学生名单",
    "R5": "人籍不一致问题清单，每校一表，供学校核实整改",
    "R6": "重度残疾儿童送教上门落实情况（每月不少于2次、每次不少于3课时）",
    "R7": "每日旷课预警名单",
    "R8": "学期学籍异动梳理",
}


def report_name(report_id: str) -> str:
    """'R4' -> '劝返无效上报名单'."""
    return REPORT_NAMES[report_id]


# For the portal (portal/catalog.py): the kinds it lists, with the same names; R5S is one school's sheet of an
# R5 workbook, cut out on download.
PORTAL_KIND_LABELS: dict[str, str] = {
    **{k: REPORT_NAMES[k] for k in ("R1", "R2", "R3", "R4", "R5")},
    "R5S": f"{REPORT_NAMES['R5']}（本校）",
    "R6": REPORT_NAMES["R6"],
    "R8": REPORT_NAMES["R8"],
    "R8S": f"{REPORT_NAMES['R8']}（本校）",  # one school's sheet of an R8 township workbook
    "other": "其他",
}


def kind_of_file(file_name: str) -> str:
    """The report id of a report file named ``<地区>_<期间>_<名称>[_<乡镇>].xlsx`` ('other' when none)."""
    by_name = {name: report_id for report_id, name in REPORT_NAMES.items()}
    return next((by_name[part] for part in file_name.removesuffix(".xlsx").split("_") if part in by_name), "other")
