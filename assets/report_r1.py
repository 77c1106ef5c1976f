"""R1 控辍保学月报: monthly report of out-of-school children, dropouts and persuasion work,
township × school rows with a totals row (DESIGN.md, Reports)."""


import dagster as dg

from assets.common import OWNERS, period_params
from assets.derived import OUT_OF_SCHOOL, ROSTER, STAGED, SUSPECTED
from assets.ledger import CASE_EVENTS, state_as_of_sql
from assets.report_files import cell_counts, current_district, replace_cells, report_metadata, report_path
from kongchuo.districts import district_name, is_multi_county, month_label, region_prefix
from kongchuo.excel import Sheet, write_workbook
from kongchuo.labels import RULE_ORDER, issuing_unit, rule_legend
from kongchuo.reports_catalog import R1_COLUMNS, REPORT_NAMES
from warehouse.home import KongchuoHome
from warehouse.partitions import monthly_partitions, period_of
from warehouse.pools import WAREHOUSE_POOL
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
# A case's row: its school, else its township's out-of-school row.
_CASE_ROW = "coalesce(school_code, 'township:' || township_code, 'unknown')"

CELLS_SQL = f"""
    WITH sd AS (SELECT * FROM derived.suspected_dropouts WHERE period = :period),
    person_school AS (SELECT person_key, min(school_code) AS school_code FROM derived.roster
                      WHERE period = :period GROUP BY person_key),
    attempts AS (
        SELECT c.id_number, c.attempt_date, c.result, coalesce(sd.school_code, ps.school_code, 'unknown') AS school_code
        FROM staged.casework c
        LEFT JOIN sd ON sd.person_key = c.id_number
        LEFT JOIN person_school ps ON ps.person_key = c.id_number
        WHERE c.attempt_date BETWEEN :start AND :end
    ),
    cases AS ({state_as_of_sql(before=False)})
    SELECT :period, :report, school_code, 'enrolled', coalesce(student_no, id_number) FROM derived.roster
        WHERE period = :period AND status = 'active'
    UNION ALL SELECT :period, :report, school_code, 'suspected', person_key FROM sd
    UNION ALL SELECT :period, :report, school_code, {_FIRST_RULE}, person_key FROM sd WHERE {_FIRST_RULE} IS NOT NULL
    UNION ALL SELECT :period, :report, {_CASE_ROW}, state, person_key FROM cases
        WHERE state IN ('confirmed', 'persuading', 'escalated')
    UNION ALL SELECT :period, :report, school_code, 'attempts', id_number || '@' || CAST(attempt_date AS TEXT)
        FROM attempts
    UNION ALL SELECT DISTINCT :period, :report, school_code, 'returned', id_number FROM attempts
        WHERE result = 'returned'
    UNION ALL SELECT :period, :report, 'township:' || township_code, 'out_of_school', id_number
        FROM derived.out_of_school WHERE period = :period AND NOT verify_elsewhere
    UNION ALL SELECT :period, :report, 'township:' || township_code, 'verify_elsewhere', id_number
        FROM derived.out_of_school WHERE period = :period AND verify_elsewhere
"""


def r1_rows(warehouse: WarehouseResource, period: str, district: str) -> tuple[list[list], list]:
    """Rows per township: its schools, its out-of-school row ('未入学适龄儿童'), then its 小计; and the 合计 row
    (the sum of the 小计 rows)."""
    counts = cell_counts(warehouse, period, REPORT_ID)
    keys = [k for k, _ in COLUMNS]
    # The district's schools; for a prefecture or province run every school of its counties, with the
    # county before the township name (township names repeat across counties: 城关镇 ...).
    schools = warehouse.query_df(
        """SELECT t.township_code, t.township_name, t.district_code, s.school_code, s.school_name
           FROM staged.schools s JOIN staged.townships t ON t.township_code = s.township_code
           WHERE t.district_code LIKE :prefix
           ORDER BY t.township_code, s.school_code""", {"prefix": region_prefix(district) + "%"})
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


@dg.asset(pool=WAREHOUSE_POOL, key=R1, deps=[ROSTER, SUSPECTED, OUT_OF_SCHOOL, CASE_EVENTS, STAGED["casework"], STAGED["reference"]],
          group_name="reports", owners=OWNERS, partitions_def=monthly_partitions, kinds={"excel", "openpyxl"},
          code_version="2")
def r1_monthly(context: dg.AssetExecutionContext, home: KongchuoHome,
               warehouse: WarehouseResource) -> dg.MaterializeResult:
    """R1 控辍保学月报 Monthly report: out-of-school children, suspected dropouts by first rule, dropout cases
    (confirmed, in persuasion, escalated) and persuasion work, township × school with township subtotals and
    totals; due the 20th of the following month."""
    period = period_of(context)
    replace_cells(warehouse, period, REPORT_ID, CELLS_SQL, period_params(period))
    district_code = current_district(warehouse)
    rows, totals = r1_rows(warehouse, period, district_code)
    district = district_name(district_code)
    path = report_path(home, warehouse, period, REPORT_NAMES[REPORT_ID])
    unit = issuing_unit(district_code, home.reference("districts.csv"))
    sha = write_workbook(path, [r1_sheet(district, period, unit, rows, totals)])
    meta = report_metadata(path, sha, len(rows), warehouse, period)
    meta.update({f"total_{k}": int(v) for (k, _), v in zip(COLUMNS, totals[3:])})
    return dg.MaterializeResult(metadata=meta)
