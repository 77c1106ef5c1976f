"""送教上门 Home-teaching compliance per month (DESIGN.md: ≥ 2 visits a month of ≥ 3 class hours each).

A child is home-taught in a month when they have any 送教上门 visit in the school year up to the month's end
(the same test that excludes them from the dropout rules, :mod:`assets.rules`). A month is assessed only
when schools are in session: the district has roll-call rows in it (no assessment in the summer holiday).
Visits are de-duplicated across files by (child, date, class hours, teacher); a qualifying visit has ≥ 3
class hours; the child is compliant with ≥ 2 qualifying visits in the month.
"""


import dagster as dg

from assets.common import OWNERS, period_params, table_metadata
from assets.derived import STAGED
from warehouse.partitions import monthly_partitions, period_of
from warehouse.pools import WAREHOUSE_POOL
from warehouse.resource import WarehouseResource

HOME_TEACHING_COMPLIANCE = dg.AssetKey(["derived", "home_teaching_compliance"])
MIN_VISITS = 2
MIN_HOURS = 3

COMPLIANCE_SQL = f"""
    WITH visits AS (
        SELECT DISTINCT id_number, visit_date, class_hours, teacher FROM staged.home_teaching
        WHERE id_number IS NOT NULL AND visit_date > CAST(:ref_date AS DATE) AND visit_date <= :end
    ),
    taught AS (SELECT DISTINCT id_number FROM visits),
    month AS (
        SELECT id_number, count(*) AS visits,
               sum(CASE WHEN class_hours >= {MIN_HOURS} THEN 1 ELSE 0 END) AS qualifying_visits,
               sum(class_hours) AS class_hours, min(visit_date) AS first_visit, max(visit_date) AS last_visit
        FROM visits WHERE visit_date >= :start GROUP BY id_number
    ),
    reg AS (
        SELECT r.id_number, r.school_code, coalesce(s.township_code, r.township_code) AS township_code,
               row_number() OVER (PARTITION BY r.id_number
                                  ORDER BY CASE WHEN r.status IN ('active', 'suspended') THEN 0 ELSE 1 END,
                                           r.school_code) AS rn
        FROM staged.registry_current r LEFT JOIN staged.schools s ON s.school_code = r.school_code
        WHERE r.id_number IS NOT NULL
    )
    SELECT :period AS period, t.id_number, coalesce(r.township_code, c.township_code) AS township_code,
           r.school_code, coalesce(m.visits, 0), coalesce(m.qualifying_visits, 0), coalesce(m.class_hours, 0),
           m.first_visit, m.last_visit, coalesce(m.qualifying_visits, 0) >= {MIN_VISITS} AS compliant
    FROM taught t
    LEFT JOIN month m ON m.id_number = t.id_number
    LEFT JOIN reg r ON r.id_number = t.id_number AND r.rn = 1
    LEFT JOIN staged.census_current c ON c.id_number = t.id_number
    WHERE EXISTS (SELECT 1 FROM staged.attendance_current a WHERE a.date BETWEEN :start AND :end)
"""


@dg.asset(pool=WAREHOUSE_POOL, key=HOME_TEACHING_COMPLIANCE, deps=[STAGED["home_teaching"], STAGED["registry"], STAGED["census"],
                                              STAGED["attendance"], STAGED["reference"]],
          group_name="derived", owners=OWNERS, partitions_def=monthly_partitions, kinds={"duckdb", "sql"},
          code_version="1")
def home_teaching_compliance(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """送教上门达标情况 Home-teaching compliance: each home-taught child's visits in the month and whether
    there were ≥ 2 visits of ≥ 3 class hours each."""
    period = period_of(context)
    n = warehouse.replace_period("derived.home_teaching_compliance", period, COMPLIANCE_SQL, period_params(period))
    meta = table_metadata(warehouse, "derived.home_teaching_compliance", period,
                          "id_number, school_code, visits, qualifying_visits, compliant")
    meta["non_compliant"] = int(warehouse.scalar(
        "SELECT count(*) FROM derived.home_teaching_compliance WHERE period = :p AND NOT compliant", {"p": period}))
    context.log.info(f"home teaching {period}: {n} children, {meta['non_compliant']} not compliant")
    return dg.MaterializeResult(metadata=meta)


home_teaching_assets = [home_teaching_compliance]
