"""Scale-out past one machine: per-township partitions run in parallel on Celery workers.

A province has thousands of townships; the roster (every registry record against the month's roll call) is the
heavy join, and it is exact per township (a record's roster row depends only on that record and on the roll
call of its school). The township assets are partitioned by month × township
(:data:`month_township_partitions`; townships are a dynamic dimension filled from the reference data with
:func:`register_townships`), and ``township_job`` runs on Dagster's Celery executor: each step of each
partition is a Celery task on whichever worker takes it, with Redis as the broker.

- ``township/roster`` → ``derived.township_roster``: the rows of the roster rule (:data:`assets.rules.ROSTER_SQL`,
  the same SQL as ``derived/roster``) for the records filed under the township.
- ``township/attendance_summary`` → ``derived.township_attendance_summary``: per school of the township,
  records, active records, records with no roll-call row, with an unexcused run of ``consecutive_days`` or more,
  and unexcused days.

Workers and the process that launches runs need shared storage: Dagster's instance on PostgreSQL
(``deploy/dagster.yaml``) and the warehouse on PostgreSQL (``KONGCHUO_WAREHOUSE_URL``); with DuckDB only one
process may write, so township runs would only queue behind each other. Broker and result backend:
``KONGCHUO_CELERY_BROKER`` (default ``redis://127.0.0.1:6379/0``) and ``KONGCHUO_CELERY_BACKEND``
(default ``redis://127.0.0.1:6379/1``). Start a worker on each machine::

    dagster-celery worker start -A dagster_celery.app -y deploy/celery.yaml -q dagster

(with ``DAGSTER_HOME``, ``KONGCHUO_HOME`` and ``KONGCHUO_WAREHOUSE_URL`` set as for the webserver).
"""


import os

import dagster as dg
import sqlalchemy as sa
from dagster_celery import celery_executor

import kongchuo  # noqa: F401  (telemetry and analytics off before anything else loads)
from assets.common import OWNERS, period_params, table_schema
from assets.derived import STAGED
from assets.rules import ROSTER_SQL, RuleConfig, rule_params
from assets.rules import SQL_FILES as RULE_SQL_FILES
from pipelines.resources import build_resources
from warehouse.home import KongchuoHome
from warehouse.partitions import monthly_partitions
from warehouse.pools import WAREHOUSE_POOL
from warehouse.resource import WarehouseResource
from warehouse.sql import load, render

TOWNSHIP_ROSTER = dg.AssetKey(["township", "roster"])
TOWNSHIP_SUMMARY = dg.AssetKey(["township", "attendance_summary"])
ROSTER_TABLE = "derived.township_roster"
SUMMARY_TABLE = "derived.township_attendance_summary"


township_partitions = dg.DynamicPartitionsDefinition(name="township")
month_township_partitions = dg.MultiPartitionsDefinition(
    {"month": monthly_partitions, "township": township_partitions})

SQL_FILES = ("township/roster", "township/attendance_summary", *RULE_SQL_FILES)  # policies: code_version
TOWNSHIP_ROSTER_SQL = render("township/roster", roster_query=ROSTER_SQL)

SUMMARY_SQL = load("township/attendance_summary")


def executor_config(queue: str = "dagster") -> dict:
    """Celery executor config: broker and result backend from the environment, tasks on ``queue``."""
    return {"broker": os.environ.get("KONGCHUO_CELERY_BROKER", "redis://127.0.0.1:6379/0"),
            "backend": os.environ.get("KONGCHUO_CELERY_BACKEND", "redis://127.0.0.1:6379/1"),
            "config_source": {"task_default_queue": queue}}


def _keys(context: dg.AssetExecutionContext) -> tuple[str, str]:
    keys = context.partition_key.keys_by_dimension
    return keys["month"], keys["township"]


def _replace(warehouse: WarehouseResource, table: str, select_sql: str, params: dict) -> int:
    """Idempotent per (period, township): delete the slice, insert the SELECT's rows; returns the count."""
    warehouse.ensure_layout()
    with warehouse.begin() as conn:
        where = "period = :period AND township_code = :township"
        conn.execute(sa.text(f"DELETE FROM {table} WHERE {where}"), params)
        conn.execute(sa.text(f"INSERT INTO {table} {select_sql}"), params)
        return int(conn.execute(sa.text(f"SELECT count(*) FROM {table} WHERE {where}"), params).scalar())


_COMMON = dict(group_name="township", owners=OWNERS, partitions_def=month_township_partitions,
               kinds={"postgres", "sql"}, tags={"kongchuo/graph": "township"})


@dg.asset(pool=WAREHOUSE_POOL, key=TOWNSHIP_ROSTER, deps=[STAGED["registry"], STAGED["attendance"], STAGED["reference"]],
          code_version="1", **_COMMON)
def township_roster(context: dg.AssetExecutionContext, warehouse: WarehouseResource, home: KongchuoHome,
                    config: RuleConfig) -> dg.MaterializeResult:
    """乡镇名册 The roster rule for the registry records of one township and month (same SQL as derived/roster)."""
    period, township = _keys(context)
    n = _replace(warehouse, ROSTER_TABLE, TOWNSHIP_ROSTER_SQL,
                 {**rule_params(warehouse, period_params(period), config, home.attendance_mode),
                  "township": township})
    context.log.info(f"township roster {period} {township}: {n} registry records")
    return dg.MaterializeResult(metadata={"dagster/row_count": n, "dagster/table_name": ROSTER_TABLE,
                                          "dagster/column_schema": table_schema("derived.roster"),
                                          "period": period, "township_code": township})


@dg.asset(pool=WAREHOUSE_POOL, key=TOWNSHIP_SUMMARY, deps=[TOWNSHIP_ROSTER], code_version="1", **_COMMON)
def township_attendance_summary(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                                config: RuleConfig) -> dg.MaterializeResult:
    """乡镇考勤汇总 Per school of the township: records, active records, no roll call, unexcused runs and days."""
    period, township = _keys(context)
    n = _replace(warehouse, SUMMARY_TABLE, SUMMARY_SQL, {**config.params(), "period": period, "township": township})
    frame = warehouse.query_df(f"SELECT school_code, records, active_records, no_attendance, unexcused_run "
                               f"FROM {SUMMARY_TABLE} WHERE period = :p AND township_code = :t ORDER BY school_code",
                               {"p": period, "t": township})
    return dg.MaterializeResult(metadata={
        "dagster/row_count": n, "dagster/table_name": SUMMARY_TABLE, "period": period, "township_code": township,
        "preview": dg.MetadataValue.md(frame.to_markdown(index=False) if len(frame) else "(none)")})


township_assets = [township_roster, township_attendance_summary]

township_job = dg.define_asset_job(
    name="township_job",
    selection=dg.AssetSelection.groups("township"),
    partitions_def=month_township_partitions,
    executor_def=celery_executor,
    config={"execution": {"config": executor_config()}},
    tags={"kongchuo/graph": "township"},
    description="乡镇分片作业 Per-township roster and attendance summary, one run per (month, township) partition, "
                "steps executed by Celery workers (Redis broker); needs PostgreSQL for Dagster and the warehouse.",
)


def register_townships(instance: dg.DagsterInstance, warehouse: WarehouseResource) -> list[str]:
    """Add every township of the reference data that has registry records as a ``township`` partition."""
    codes = list(warehouse.query_df(
        "SELECT DISTINCT t.township_code FROM staged.townships t JOIN staged.schools s "
        "ON s.township_code = t.township_code JOIN staged.registry_current r ON r.school_code = s.school_code "
        "ORDER BY 1")["township_code"])
    instance.add_dynamic_partitions(township_partitions.name, codes)
    return codes


def partition_tags(month: str, township: str) -> dict[str, str]:
    """Run tags of one (month, township) partition (for ``dagster.execute_job``)."""
    key = dg.MultiPartitionKey({"month": month, "township": township})
    return {"dagster/partition": str(key), **month_township_partitions.get_tags_for_partition_key(key)}


# A code location of its own (deploy/workspace.yaml loads it beside pipelines/definitions.py): the monthly graph
# stays as it is, and a worker step imports only what the township assets need.
defs = dg.Definitions(assets=township_assets, jobs=[township_job], resources=build_resources())


def township_job_def() -> dg.JobDefinition:
    """``township_job`` with its resources (a module-level function, for ``dg.reconstructable``)."""
    return defs.resolve_job_def("township_job")
