"""Derived tables per monthly period: roster (人籍比对), suspected dropouts (疑似辍学), out of school (失学).

Each asset rebuilds its period idempotently in the warehouse (delete the period's rows, insert) with the
SQL of :mod:`assets.rules` (the files ``warehouse/sql/rules/*.sql``, whose fingerprint is the assets'
code_version); nothing is pulled into Python but counts and a masked preview.
"""


import dagster as dg

from assets import rules
from assets.common import OWNERS, period_params, table_metadata
from assets.rules import OUT_OF_SCHOOL_SQL, ROSTER_SQL, SUSPECTED_DROPOUTS_SQL, RuleConfig, rule_params
from warehouse.home import KongchuoHome
from warehouse.partitions import monthly_partitions, period_of
from warehouse.pools import WAREHOUSE_POOL
from warehouse.resource import WarehouseResource

STAGED = {name: dg.AssetKey(["staged", name]) for name in
          ("registry", "attendance", "census", "casework", "exemptions", "home_teaching", "reference")}
ROSTER = dg.AssetKey(["derived", "roster"])
SUSPECTED = dg.AssetKey(["derived", "suspected_dropouts"])
OUT_OF_SCHOOL = dg.AssetKey(["derived", "out_of_school"])

SQL_FILES = rules.SQL_FILES  # the .sql files these assets run: their code_version (pipelines.policies)

_COMMON = dict(group_name="derived", owners=OWNERS, partitions_def=monthly_partitions, kinds={"duckdb", "sql"})


@dg.asset(pool=WAREHOUSE_POOL, key=ROSTER, deps=[STAGED["registry"], STAGED["attendance"], STAGED["reference"]], code_version="1",
          **_COMMON)
def roster(context: dg.AssetExecutionContext, warehouse: WarehouseResource, home: KongchuoHome,
           config: RuleConfig) -> dg.MaterializeResult:
    """人籍比对名册 Roster: one row per current registry record with what the period's roll call says
    (school days, present/unexcused/leave days, longest unexcused run, last day seen). In absence_only
    attendance mode the school days come from the school calendar and an active record's days without an
    absence row count as present."""
    period = period_of(context)
    params = rule_params(warehouse, period_params(period), config, home.attendance_mode)
    n = warehouse.replace_period("derived.roster", period, ROSTER_SQL, params)
    context.log.info(f"roster {period}: {n} registry records (attendance mode {home.attendance_mode})")
    meta = table_metadata(
        warehouse, "derived.roster", period, "person_key, school_code, status, attendance_days, unexcused_days")
    meta["attendance_mode"] = home.attendance_mode
    meta["sd2"] = params["sd2_note"]
    return dg.MaterializeResult(metadata=meta)


@dg.asset(pool=WAREHOUSE_POOL, key=SUSPECTED, deps=[ROSTER, STAGED["exemptions"], STAGED["home_teaching"], STAGED["census"]],
          code_version="1", **_COMMON)
def suspected_dropouts(context: dg.AssetExecutionContext, warehouse: WarehouseResource, home: KongchuoHome,
                       config: RuleConfig) -> dg.MaterializeResult:
    """疑似辍学学生 Suspected dropouts: one row per child with every rule that fired (SD1–SD6), after the
    exclusions (exemption in force on the cut-off, home teaching, death, graduation from grade 9, aged 16+).
    SD5 is not evaluated in absence_only attendance mode; whether SD2 and SD6 were evaluated is in the
    metadata (``sd2_evaluated``, ``sd6_evaluated``)."""
    period = period_of(context)
    params = rule_params(warehouse, period_params(period), config, home.attendance_mode)
    warehouse.replace_period("derived.suspected_dropouts", period, SUSPECTED_DROPOUTS_SQL, params)
    by_rule = warehouse.query_df(
        "SELECT rules, count(*) AS n FROM derived.suspected_dropouts WHERE period = :p GROUP BY rules ORDER BY rules",
        {"p": period})
    meta = table_metadata(warehouse, "derived.suspected_dropouts", period, "person_key, school_code, rules")
    meta["by_rules"] = dg.MetadataValue.md(by_rule.to_markdown(index=False) if len(by_rule) else "(none)")
    meta["attendance_mode"] = home.attendance_mode
    # reports say whether SD2 / SD6 were evaluated this period (e.g. a bureau's first month is October)
    meta["sd2_evaluated"] = bool(params["sd2_evaluate"])
    meta["sd2"] = params["sd2_note"]
    meta["sd6_evaluated"] = bool(params["sd6_evaluate"])
    meta["sd6"] = params["sd6_note"]
    return dg.MaterializeResult(metadata=meta)


@dg.asset(pool=WAREHOUSE_POOL, key=OUT_OF_SCHOOL, deps=[STAGED["census"], STAGED["registry"], STAGED["exemptions"]], code_version="1",
          **_COMMON)
def out_of_school(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                  config: RuleConfig) -> dg.MaterializeResult:
    """失学儿童 Out-of-school children: census children of school age with no registry record in any state
    and no exemption in force; 外出 children are flagged ``verify_elsewhere`` (核实异地就读)."""
    period = period_of(context)
    warehouse.replace_period("derived.out_of_school", period, OUT_OF_SCHOOL_SQL,
                             {**period_params(period), **config.params()})  # in force on the cut-off :end
    meta = table_metadata(warehouse, "derived.out_of_school", period, "id_number, township_code, verify_elsewhere")
    meta["verify_elsewhere"] = int(warehouse.scalar(
        "SELECT count(*) FROM derived.out_of_school WHERE period = :p AND verify_elsewhere", {"p": period}))
    return dg.MaterializeResult(metadata=meta)


derived_assets = [roster, suspected_dropouts, out_of_school]
