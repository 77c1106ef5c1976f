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
from warehouse.sql import load

HOME_TEACHING_COMPLIANCE = dg.AssetKey(["derived", "home_teaching_compliance"])
MIN_VISITS = 2
MIN_HOURS = 3

SQL_FILES = ("home_teaching/compliance",)  # policies: code_version
COMPLIANCE_SQL = load("home_teaching/compliance")


@dg.asset(pool=WAREHOUSE_POOL, key=HOME_TEACHING_COMPLIANCE, deps=[STAGED["home_teaching"], STAGED["registry"], STAGED["census"],
                                              STAGED["attendance"], STAGED["reference"]],
          group_name="derived", owners=OWNERS, partitions_def=monthly_partitions, kinds={"duckdb", "sql"},
          code_version="1")
def home_teaching_compliance(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """送教上门达标情况 Home-teaching compliance: each home-taught child's visits in the month and whether
    there were ≥ 2 visits of ≥ 3 class hours each."""
    period = period_of(context)
    n = warehouse.replace_period("derived.home_teaching_compliance", period, COMPLIANCE_SQL, {**period_params(period), "min_visits": MIN_VISITS, "min_hours": MIN_HOURS})
    meta = table_metadata(warehouse, "derived.home_teaching_compliance", period,
                          "id_number, school_code, visits, qualifying_visits, compliant")
    meta["non_compliant"] = int(warehouse.scalar(
        "SELECT count(*) FROM derived.home_teaching_compliance WHERE period = :p AND NOT compliant", {"p": period}))
    context.log.info(f"home teaching {period}: {n} children, {meta['non_compliant']} not compliant")
    return dg.MaterializeResult(metadata=meta)


home_teaching_assets = [home_teaching_compliance]
