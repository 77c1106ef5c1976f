"""Quarterly derived tables for R2 (控辍保学排查整改工作情况统计表), period keys like ``2026-Q2``.

The quarterly job runs on the 25th of the quarter's last month for the quarter in progress, before the
monthly job has run for that month. So the quarterly tables do not read the monthly derived tables: they run
the rules of :mod:`assets.rules` themselves, once per month of the quarter, over the month's window clipped
at the quarter's **cut-off** (:func:`quarter_cutoff`):

    cut-off = min(25th of the quarter's last month, the last roll-call date in the warehouse)

A month whose first day is after the cut-off is not evaluated. A child counts as a suspected dropout of the
quarter when flagged in any evaluated month (``derived.quarterly_suspected`` keeps one row per month it was
flagged in). Clipping at the last roll-call date keeps a month whose attendance has not arrived yet from
flagging every student as SD5; fixing the cut-off at the 25th (not the run's wall-clock date) makes a
backfill of a past quarter give the same numbers as the scheduled run did with the same inputs.

Per township (``derived.township_rates``), every township of the district(s) the data belongs to
(:data:`DATA_DISTRICTS_SQL`), never every district of the reference data: school-age children on the household
register (6–15 full years on 31 August of the school year of the cut-off, residence 在户 or 外出), how many of
them hold a registry record that is 在读 or 休学 (enrolled), the enrolment rate, out-of-school children (失学; 外出
ones apart as "verify elsewhere"), the quarter's suspected dropouts, and children still out at the cut-off:
out of school (not 外出) plus children flagged in the last evaluated month. An exemption keeps a child out of
the 失学 count when it is in force on the cut-off date, as R1's is on its month's last day, so R1 and R2 of the
same date agree. Every count is a count of persons from :data:`TOWNSHIP_PEOPLE_SQL`, the same SQL R2's
drill-down cells come from.
"""


import datetime as dt
from typing import Any

import dagster as dg
import sqlalchemy as sa

from assets.common import OWNERS, table_schema
from assets.derived import STAGED
from assets.report_files import source_files_metadata
from assets.rules import OUT_OF_SCHOOL_SQL, ROSTER_SQL, RuleConfig, age_sql, rule_params, suspected_dropouts_sql
from assets.rules import SQL_FILES as RULE_SQL_FILES
from kongchuo.masking import preview_markdown
from warehouse.home import KongchuoHome
from warehouse.partitions import period_bounds, period_of, quarterly_partitions, school_year_reference_date
from warehouse.pools import WAREHOUSE_POOL
from warehouse.resource import WarehouseResource
from warehouse.sql import load, render
from warehouse.views import census_birth_sql, registry_persons_sql

QUARTERLY_SUSPECTED = dg.AssetKey(["derived", "quarterly_suspected"])
TOWNSHIP_RATES = dg.AssetKey(["derived", "township_rates"])
GROUP = "quarterly"
CUTOFF_DAY = 25

def quarter_cutoff(warehouse: WarehouseResource, quarter: str) -> dt.date | None:
    """The last day of data the quarter's table covers, or None when no roll call falls in the quarter."""
    start, end = period_bounds(quarter)
    nominal = dt.date(end.year, end.month, CUTOFF_DAY)
    last = warehouse.scalar("SELECT max(date) FROM staged.attendance_current WHERE date BETWEEN :s AND :e",
                            {"s": start, "e": nominal})
    if last is None:
        return None
    last = last if isinstance(last, dt.date) else dt.date.fromisoformat(str(last)[:10])
    return min(nominal, last)


def quarter_months(quarter: str, cutoff: dt.date) -> list[tuple[str, dt.date, dt.date]]:
    """(month key, window start, window end) of each month of the quarter up to the cut-off."""
    start, _ = period_bounds(quarter)
    out = []
    for i in range(3):
        month = f"{start.year}-{start.month + i:02d}"
        m_start, m_end = period_bounds(month)
        if m_start <= cutoff:
            out.append((month, m_start, min(m_end, cutoff)))
    return out


# The statements live in warehouse/sql/quarterly/; the rules are those of warehouse/sql/rules/.
SQL_FILES = ("quarterly/quarterly_suspected", "quarterly/township_people", "quarterly/township_rates",
             "quarterly/data_districts", "quarterly/data_townships", *RULE_SQL_FILES)  # policies: code_version

QUARTERLY_INSERT_SQL = render("quarterly/quarterly_suspected", month_roster=ROSTER_SQL,
                              month_suspected=suspected_dropouts_sql("month_roster"))

DATA_DISTRICTS_SQL = load("quarterly/data_districts")
DATA_TOWNSHIPS_SQL = render("quarterly/data_townships", data_districts=DATA_DISTRICTS_SQL)

# Persons behind every township count of R2 and derived.township_rates: (township_code, measure, person).
# Out of school at the cut-off: the rule's exemption test is on :end, which the quarter's parameters set to the
# cut-off (DESIGN.md "In force"), as for R1 on its month's last day.
TOWNSHIP_PEOPLE_SQL = render(
    "quarterly/township_people", out_of_school=OUT_OF_SCHOOL_SQL, census_birth=census_birth_sql("c"),
    age_on_ref_date=age_sql("c.birth_date", "CAST(:ref_date AS DATE)"),
    enrolled_registry_persons=registry_persons_sql("t.status IN ('active', 'suspended')"))

TOWNSHIP_RATES_SQL = render("quarterly/township_rates", township_people=TOWNSHIP_PEOPLE_SQL,
                            data_townships=DATA_TOWNSHIPS_SQL)


def quarter_params(warehouse: WarehouseResource, quarter: str, config: RuleConfig) -> dict[str, Any] | None:
    """Bind parameters of the quarter's SQL, or None when no roll call falls in the quarter yet."""
    cutoff = quarter_cutoff(warehouse, quarter)
    if cutoff is None:
        return None
    months = quarter_months(quarter, cutoff)
    return {**config.params(), "period": quarter, "quarter": quarter, "start": period_bounds(quarter)[0],
            "end": cutoff, "ref_date": school_year_reference_date(cutoff), "last_month": months[-1][0]}


def write_quarterly_suspected(warehouse: WarehouseResource, quarter: str, config: RuleConfig,
                              attendance_mode: str = "rollcall") -> dict[str, Any]:
    cutoff = quarter_cutoff(warehouse, quarter)
    months = quarter_months(quarter, cutoff) if cutoff else []
    month_params = [  # read before the write transaction (the term calendar queries the warehouse)
        {**rule_params(warehouse, {"period": month, "start": m_start, "end": m_end,
                                   "ref_date": school_year_reference_date(m_start)}, config, attendance_mode),
         "quarter": quarter}
        for month, m_start, m_end in months]
    with warehouse.begin() as conn, warehouse.unordered_inserts(conn):
        conn.execute(sa.text("DELETE FROM derived.quarterly_suspected WHERE period = :p"), {"p": quarter})
        for params in month_params:
            conn.execute(sa.text(f"INSERT INTO derived.quarterly_suspected {QUARTERLY_INSERT_SQL}"), params)
    return {"cutoff": cutoff.isoformat() if cutoff else None, "months": [m for m, _, _ in months]}


@dg.asset(pool=WAREHOUSE_POOL, key=QUARTERLY_SUSPECTED, deps=[STAGED["registry"], STAGED["attendance"], STAGED["exemptions"],
                                         STAGED["home_teaching"], STAGED["census"], STAGED["reference"]],
          group_name=GROUP, owners=OWNERS, partitions_def=quarterly_partitions, kinds={"duckdb", "sql"},
          code_version="1")
def quarterly_suspected(context: dg.AssetExecutionContext, warehouse: WarehouseResource, home: KongchuoHome,
                        config: RuleConfig) -> dg.MaterializeResult:
    """季度疑似辍学 Quarterly suspected dropouts: every month of the quarter up to the cut-off (25th of the
    last month, or the last roll-call date if earlier) in which a child was flagged (SD1–SD5), with stage."""
    quarter = period_of(context)
    info = write_quarterly_suspected(warehouse, quarter, config, home.attendance_mode)
    n = int(warehouse.scalar("SELECT count(DISTINCT person_key) FROM derived.quarterly_suspected WHERE period = :p",
                             {"p": quarter}))
    sample = warehouse.query_df("SELECT month, person_key, school_code, stage, rules FROM derived.quarterly_suspected "
                                "WHERE period = :p ORDER BY month, person_key LIMIT 10", {"p": quarter})
    context.log.info(f"quarterly suspected {quarter}: {n} children, months {info['months']}, cut-off {info['cutoff']}")
    return dg.MaterializeResult(metadata={
        **source_files_metadata(warehouse, quarter),
        "dagster/row_count": n, "dagster/table_name": "derived.quarterly_suspected",
        "dagster/column_schema": table_schema("derived.quarterly_suspected"), "period": quarter,
        "cutoff": info["cutoff"] or "(no roll call in the quarter)", "months": dg.MetadataValue.json(info["months"]),
        "preview": dg.MetadataValue.md(preview_markdown(sample)),
    })


@dg.asset(pool=WAREHOUSE_POOL, key=TOWNSHIP_RATES, deps=[QUARTERLY_SUSPECTED, STAGED["census"], STAGED["registry"],
                                    STAGED["exemptions"], STAGED["reference"]],
          group_name=GROUP, owners=OWNERS, partitions_def=quarterly_partitions, kinds={"duckdb", "sql"},
          code_version="2")
def township_rates(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                   config: RuleConfig) -> dg.MaterializeResult:
    """乡镇入学率 Township rates: school-age children on the household register, enrolled among them,
    enrolment rate, out-of-school children and children still out at the quarter's cut-off."""
    quarter = period_of(context)
    params = quarter_params(warehouse, quarter, config)
    if params is None:
        warehouse.execute("DELETE FROM derived.township_rates WHERE period = :p", {"p": quarter})
        return dg.MaterializeResult(metadata={"dagster/row_count": 0, "period": quarter,
                                              "cutoff": "(no roll call in the quarter)"})
    n = warehouse.replace_period("derived.township_rates", quarter, TOWNSHIP_RATES_SQL, params)
    df = warehouse.query_df("SELECT township_code, school_age_children, enrolled_school_age, enrolment_rate, "
                            "out_of_school, still_out FROM derived.township_rates WHERE period = :p "
                            "ORDER BY township_code", {"p": quarter})
    return dg.MaterializeResult(metadata={
        **source_files_metadata(warehouse, quarter),
        "dagster/row_count": n, "dagster/table_name": "derived.township_rates",
        "dagster/column_schema": table_schema("derived.township_rates"), "period": quarter,
        "cutoff": params["end"].isoformat(),
        "school_age_children": int(df["school_age_children"].sum()) if n else 0,
        "enrolled_school_age": int(df["enrolled_school_age"].sum()) if n else 0,
        "preview": dg.MetadataValue.md(df.to_markdown(index=False) if n else "(none)"),
    })


quarterly_derived_assets = [quarterly_suspected, township_rates]
