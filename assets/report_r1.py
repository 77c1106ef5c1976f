"""R1 控辍保学月报: monthly report of out-of-school children, dropouts and persuasion work,
township × school rows with a totals row (DESIGN.md, Reports). The spec of :mod:`assets.report_skeleton`:
cells in ``warehouse/sql/reports/r1_cells.sql``, the rows and the 月报 sheet here."""

import dagster as dg

from assets.derived import OUT_OF_SCHOOL, ROSTER, STAGED, SUSPECTED
from assets.ledger import CASE_EVENTS, state_as_of_sql
from assets.report_files import cell_counts
from assets.report_skeleton import Built, ReportRun, ReportSpec, register_report
from kongchuo.districts import district_name, is_multi_county, month_label, region_prefix
from kongchuo.excel import Sheet
from kongchuo.labels import RULE_ORDER, rule_legend
from kongchuo.reports_catalog import R1_COLUMNS, REPORT_NAMES
from warehouse import sql
from warehouse.resource import WarehouseResource

R1 = dg.AssetKey(["reports", "r1_monthly"])
REPORT_ID = "R1"

COLUMNS = R1_COLUMNS
# Group headers above the columns (first column of each group).
GROUPS: dict[str, str] = {"suspected": "疑似辍学人数（每人按首个触发规则计一次）", "confirmed": "辍学案件（截至月末）",
                          "attempts": "本月劝返工作", "out_of_school": "户籍比对"}
RULE_KEYS = RULE_ORDER
OOS_ROW_PREFIX = "township:"
SUBTOTAL, TOTAL = "小计", "合计"
LEAD = ("乡镇（街道）", "学校名称", "学校标识码")

_FIRST_RULE = "CASE " + " ".join(f"WHEN ',' || rules || ',' LIKE '%,{r},%' THEN '{r}'" for r in RULE_ORDER) + " END"
CELLS_PARTS = {"cases": state_as_of_sql(before=False), "first_rule": _FIRST_RULE}
SQL_FILES = ("reports/r1_cells", "reports/r1_schools")  # policies: code_version
CELLS_SQL = sql.render("reports/r1_cells", **CELLS_PARTS)


def r1_rows(warehouse: WarehouseResource, period: str, district: str) -> tuple[list[list], list]:
    """Rows per township: its schools, its out-of-school row ('未入学适龄儿童'), then its 小计; and the 合计 row
    (the sum of the 小计 rows)."""
    counts = cell_counts(warehouse, period, REPORT_ID)
    keys = [k for k, _ in COLUMNS]
    # The district's schools; for a prefecture or province run every school of its counties, with the
    # county before the township name (township names repeat across counties: 城关镇 ...).
    schools = warehouse.query_df(sql.load("reports/r1_schools"), {"prefix": region_prefix(district) + "%"})
    qualify = is_multi_county(district)
    rows: list[list] = []
    subtotals: list[list] = []
    for township_code, group in schools.groupby("township_code", sort=True):
        township_name = group["township_name"].iloc[0]
        if qualify:
            township_name = district_name(str(group["district_code"].iloc[0])) + township_name
        town = _township_rows(township_name, township_code, group, counts, keys)
        subtotal = [township_name, SUBTOTAL, "", *_column_sums(town, len(keys))]
        rows += [*town, subtotal]
        subtotals.append(subtotal)
    unknown = _values(counts, "unknown", keys)
    if any(unknown):  # cases whose school and township are not known: shown, so the totals add up
        row = ["（学校不详）", "", "", *unknown]
        rows.append(row)
        subtotals.append(row)
    totals = [TOTAL, "", "", *_column_sums(subtotals, len(keys))]
    return rows, totals


def _township_rows(township_name: str, township_code: str, group, counts, keys: list[str]) -> list[list]:
    """Every school of the township (零报告: a school with nothing to report is listed with zeros), then its
    out-of-school row."""
    rows = [[township_name, s.school_name, s.school_code, *_values(counts, s.school_code, keys)]
            for s in group.itertuples(index=False)]
    rows.append([township_name, "（户籍比对：未入学适龄儿童）", "",
                 *_values(counts, OOS_ROW_PREFIX + township_code, keys)])
    return rows


def _column_sums(rows: list[list], n: int) -> list[int]:
    return [sum(r[3 + i] for r in rows) for i in range(n)]


def _values(counts, row_key: str, keys: list[str]) -> list[int]:
    if counts.empty or row_key not in counts.index:
        return [0] * len(keys)
    row = counts.loc[row_key]
    return [int(row[k]) if k in row.index else 0 for k in keys]


def r1_sheet(district: str, period: str, unit: str, rows: list[list], totals: list) -> Sheet:
    """The 月报 sheet: two-level header (groups over the rule, case, persuasion and census columns), 说明."""
    label = month_label(period)
    rules = "；".join(rule_legend(RULE_ORDER))
    return Sheet(
        name="月报",
        title=f"{district}{label}{REPORT_NAMES[REPORT_ID]}",
        subtitle_lines=[f"填报单位：{unit}（盖章）    统计期间：{label}    单位：人、人次"],
        header_rows=[[*LEAD, COLUMNS[0][1], *[GROUPS.get(key, "") for key, _ in COLUMNS[1:]]]],
        headers=["", "", "", "", *[label_ for _, label_ in COLUMNS[1:]]],
        rows=rows, totals=totals,
        footer_lines=[
            "填表人：                审核人：                填报日期：",
            f"说明：1. 疑似辍学的每名学生只计入首个触发的规则（顺序 {'、'.join(RULE_ORDER)}），各规则列之和等于合计。"
            f"规则：{rules}。",
            "2. 辍学案件按台账截至月末的状态计：确认辍学（尚未开展劝返）、劝返中、已上报联控联保工作组（劝返3次及以上仍未返校）。"
            "3. 实行零报告：本月无任何情况的学校也逐校列出。",
        ],
        widths=[14, 30, 12, 10, 8, *[10] * len(RULE_ORDER), 10, 10, 12, 10, 10, 10, 10],
    )


def build(run: ReportRun) -> Built:
    district_code = run.district_code()
    rows, totals = r1_rows(run.warehouse, run.period, district_code)
    sheet = r1_sheet(district_name(district_code), run.period, run.unit(), rows, totals)
    return Built([run.write([sheet])], len(rows),
                 {f"total_{k}": int(v) for (k, _), v in zip(COLUMNS, totals[3:])})


SPEC = ReportSpec(
    REPORT_ID, R1,
    audience="district_totals",
    description="""R1 控辍保学月报 Monthly report: out-of-school children, suspected dropouts by first rule, dropout cases
    (confirmed, in persuasion, escalated) and persuasion work, township × school with township subtotals and
    totals; due the 20th of the following month.""",
    deps=[ROSTER, SUSPECTED, OUT_OF_SCHOOL, CASE_EVENTS, STAGED["casework"], STAGED["reference"]],
    build=build, cells="r1_cells", cells_parts=CELLS_PARTS, code_version="2")
r1_monthly = register_report(SPEC, __name__)
