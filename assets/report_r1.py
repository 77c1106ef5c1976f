"""R1 控辍保学月报: monthly report of out-of-school children, dropouts and persuasion work,
township × school rows with a totals row (DESIGN.md, Reports)."""


import dagster as dg

from assets.common import OWNERS, period_params
from assets.derived import OUT_OF_SCHOOL, ROSTER, STAGED, SUSPECTED
from assets.report_files import cell_counts, current_district, replace_cells, report_metadata, report_path
from kongchuo.districts import district_name, is_multi_county, month_label, region_prefix
from kongchuo.excel import Sheet, write_workbook
from pipelines.partitions import monthly_partitions, period_of
from pipelines.pools import WAREHOUSE_POOL
from pipelines.resources import KongchuoHome
from warehouse.resource import WarehouseResource

R1 = dg.AssetKey(["reports", "r1_monthly"])
REPORT_ID = "R1"

# (column key, Chinese header) in report order; every key is a column_key of reports.cells.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("enrolled", "在籍学生数"),
    ("suspected", "疑似辍学人数"),
    ("SD1", "其中：连续或累计旷课"),
    ("SD2", "其中：开学未返校"),
    ("SD3", "其中：转出未接收"),
    ("SD4", "其中：学籍辍学"),
    ("SD5", "其中：空挂学籍(本月无考勤)"),
    ("attempts", "本月劝返人次"),
    ("returned", "本月劝返复学人数"),
    ("out_of_school", "失学儿童人数"),
    ("verify_elsewhere", "外出待核实人数"),
)
OOS_ROW_PREFIX = "township:"

CELLS_SQL = """
    WITH sd AS (SELECT * FROM derived.suspected_dropouts WHERE period = :period),
    person_school AS (SELECT person_key, min(school_code) AS school_code FROM derived.roster
                      WHERE period = :period GROUP BY person_key),
    attempts AS (
        SELECT c.id_number, c.attempt_date, c.result, coalesce(sd.school_code, ps.school_code, 'unknown') AS school_code
        FROM staged.casework c
        LEFT JOIN sd ON sd.person_key = c.id_number
        LEFT JOIN person_school ps ON ps.person_key = c.id_number
        WHERE c.attempt_date BETWEEN :start AND :end
    )
    SELECT :period, :report, school_code, 'enrolled', coalesce(student_no, id_number) FROM derived.roster
        WHERE period = :period AND status = 'active'
    UNION ALL SELECT :period, :report, school_code, 'suspected', person_key FROM sd
    UNION ALL SELECT :period, :report, school_code, 'SD1', person_key FROM sd WHERE rules LIKE '%SD1%'
    UNION ALL SELECT :period, :report, school_code, 'SD2', person_key FROM sd WHERE rules LIKE '%SD2%'
    UNION ALL SELECT :period, :report, school_code, 'SD3', person_key FROM sd WHERE rules LIKE '%SD3%'
    UNION ALL SELECT :period, :report, school_code, 'SD4', person_key FROM sd WHERE rules LIKE '%SD4%'
    UNION ALL SELECT :period, :report, school_code, 'SD5', person_key FROM sd WHERE rules LIKE '%SD5%'
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
    """Rows (township, school, school code, counts...) for every reference school plus one
    '未入学适龄儿童' row per township, and the totals row."""
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
    for township_code, group in schools.groupby("township_code", sort=True):
        township_name = group["township_name"].iloc[0]
        if qualify:
            township_name = district_name(str(group["district_code"].iloc[0])) + township_name
        for s in group.itertuples(index=False):
            rows.append([township_name, s.school_name, s.school_code, *_values(counts, s.school_code, keys)])
        rows.append([township_name, "（户籍比对：未入学适龄儿童）", "",
                     *_values(counts, OOS_ROW_PREFIX + township_code, keys)])
    totals = ["合计", "", "", *[sum(r[3 + i] for r in rows) for i in range(len(keys))]]
    return rows, totals


def _values(counts, row_key: str, keys: list[str]) -> list[int]:
    if counts.empty or row_key not in counts.index:
        return [0] * len(keys)
    row = counts.loc[row_key]
    return [int(row[k]) if k in row.index else 0 for k in keys]


@dg.asset(pool=WAREHOUSE_POOL, key=R1, deps=[ROSTER, SUSPECTED, OUT_OF_SCHOOL, STAGED["casework"], STAGED["reference"]],
          group_name="reports", owners=OWNERS, partitions_def=monthly_partitions, kinds={"excel", "openpyxl"},
          code_version="1")
def r1_monthly(context: dg.AssetExecutionContext, home: KongchuoHome,
               warehouse: WarehouseResource) -> dg.MaterializeResult:
    """R1 控辍保学月报 Monthly report: out-of-school children, suspected dropouts by rule and persuasion work,
    township × school, with totals; due the 20th of the following month."""
    period = period_of(context)
    replace_cells(warehouse, period, REPORT_ID, CELLS_SQL, period_params(period))
    district_code = current_district(warehouse)
    rows, totals = r1_rows(warehouse, period, district_code)
    district = district_name(district_code)
    path = report_path(home, warehouse, period, "控辍保学月报")
    sha = write_workbook(path, [Sheet(
        name="月报",
        title=f"{district}{month_label(period)}控辍保学月报",
        subtitle_lines=[f"统计期间：{month_label(period)}    单位：人、人次"],
        headers=["乡镇（街道）", "学校名称", "学校标识码", *[label for _, label in COLUMNS]],
        rows=rows, totals=totals,
        footer_lines=["填表人：", "审核人：", "填报日期："],
        widths=[14, 30, 14, *[12] * len(COLUMNS)],
    )])
    meta = report_metadata(path, sha, len(rows), warehouse, period)
    meta.update({f"total_{k}": int(v) for (k, _), v in zip(COLUMNS, totals[3:])})
    return dg.MaterializeResult(metadata=meta)
