"""The one Chinese name of each report: report titles, file names, README and the portal use these.

A report file is ``<地区>_<期间>_<名称>.xlsx`` (``建安区_2026年06月_控辍保学月报.xlsx``); the period style is
:func:`kongchuo.districts.month_label` (``2026年06月``, ``2026年第二季度``) everywhere.
"""

from __future__ import annotations

from kongchuo.labels import RULE_NAMES, RULE_ORDER

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


# Who may read a report's files in the portal, by the codes of the user and of the file (portal/catalog.py).
# A report spec names one (assets/report_skeleton.ReportSpec.audience); the manifest records it per file.
AUDIENCES: dict[str, str] = {
    "district": "区县教育局",                              # district staff only
    "district_totals": "区县教育局、乡镇（中心校）、审计",  # district totals: also township staff and auditors
    "township": "区县教育局、本乡镇（中心校）",            # the file's township_code
    "school": "区县教育局、本乡镇（中心校）、本校",        # the file's township_code and school_code
}
# The audience of the reports that existed before the manifest recorded it (manifests written by older runs).
REPORT_AUDIENCES: dict[str, str] = {"R1": "district_totals", "R2": "district_totals", "R3": "district",
                                    "R4": "district", "R5": "township", "R6": "district", "R7": "school",
                                    "R8": "township"}


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
    """The report id a file name ``<地区>_<期间>_<名称>[_<乡镇>].xlsx`` suggests ('other' when none).

    A guess from words, for files no manifest lists (strays, shown as 未登记文件); a listed file's kind is the report
    id its period's ``manifest.json`` records (assets/manifest.py, portal/catalog.py)."""
    by_name = {name: report_id for report_id, name in REPORT_NAMES.items()}
    return next((by_name[part] for part in file_name.removesuffix(".xlsx").split("_") if part in by_name), "other")


# --- the columns of R1 and R2 (report, lineage and explain use these) ---

# (column key, Chinese header) in report order; every key is a column_key of reports.cells. The rule columns
# count each child once, under the first rule that fired in RULE_ORDER, so they add up to 'suspected'.
R1_COLUMNS: tuple[tuple[str, str], ...] = (
    ("enrolled", "在籍学生数"),
    ("suspected", "合计"),
    *((rule, f"{RULE_NAMES[rule]}({rule})") for rule in RULE_ORDER),
    ("confirmed", "确认辍学"),
    ("persuading", "劝返中"),
    ("escalated", "已上报联控联保工作组"),
    ("attempts", "本月劝返人次"),
    ("returned", "本月劝返复学人数"),
    ("out_of_school", "失学儿童人数"),
    ("verify_elsewhere", "外出待核实人数"),
)

R2_PRIORITY = (("poverty", "脱贫家庭/建档立卡"), ("left_behind", "留守儿童"), ("migrant", "流动/随迁子女"),
                ("disabled", "残疾儿童"), ("difficulty", "困境儿童"))
# R2: (column key in reports.cells, header, group header); 'rate' is computed from enrolled / school_age.
R2_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("school_age", "户籍适龄儿童数", "适龄儿童入学情况"),
    ("enrolled", "在籍适龄儿童数", ""),
    ("rate", "入学率(%)", ""),
    ("suspected_primary", "小学", "疑似辍学人数"),
    ("suspected_junior", "初中", ""),
    ("suspected", "合计", ""),
    *((key, label, "其中重点群体" if i == 0 else "") for i, (key, label) in enumerate(R2_PRIORITY)),
    ("returned_primary", "小学", "劝返复学人数"),
    ("returned_junior", "初中", ""),
    ("out_of_school", "失学儿童数", "失学及未返校"),
    ("verify_elsewhere", "外出待核实数", ""),
    ("still_out", "尚未返校(入学)数", ""),
)
# R2's priority groups: column key -> the staged flag column it counts.
R2_PRIORITY_FLAGS = {"poverty": "is_poverty_family", "left_behind": "is_left_behind", "migrant": "is_migrant",
                      "disabled": "is_disabled", "difficulty": "is_in_difficulty"}


# R8 学籍异动梳理: the kinds of registry change (assets/registry_changes.py), and the summary columns (column key,
# header) whose counts come from ``reports.cells`` (assets/report_r8.py; lineage in kongchuo/lineage.py).
R8_KINDS: tuple[str, ...] = ("新增", "转入", "转出", "休学", "复学", "升级", "毕业", "辍学", "死亡", "删除")
R8_COLUMNS: tuple[tuple[str, str], ...] = (*((k, k) for k in R8_KINDS), ("changes", "异动合计"),
                                           ("needs_review", "需核实"), ("consistent", "一致"))
