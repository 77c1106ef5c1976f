"""Concurrency pool of the warehouse writers: every asset and asset check that takes the ``warehouse`` resource
runs in the pool ``kongchuo_warehouse``.

DuckDB allows one writer process. The default local instance (written by ``kongchuo`` in
``$DAGSTER_HOME/dagster.yaml``, :func:`kongchuo.cli._dagster_home`) gives the pool a limit of 1 with run
granularity, so queued runs (UI, schedules, sensors, backfills through ``dagster-daemon``) that write the
warehouse start one at a time; runs started directly (``kongchuo run``, ``execute_in_process``) are not queued and
wait instead for DuckDB's file lock (:class:`warehouse.resource.WarehouseResource` retries while another process
holds it). With the PostgreSQL warehouse (``deploy/dagster.yaml``) the pool has no limit.
"""

import dagster as dg
from dagster._core.definitions.op_definition import OpDefinition

POOL = "kongchuo_warehouse"
WAREHOUSE_KEY = "warehouse"


def _with_pool(op: OpDefinition, pool: str) -> OpDefinition:
    return OpDefinition.dagster_internal_init(
        compute_fn=op.compute_fn, name=op.name,
        ins={d.name: dg.In.from_definition(d) for d in op.input_defs},
        outs={d.name: dg.Out.from_definition(d) for d in op.output_defs},
        description=op.description, config_schema=op.config_schema, required_resource_keys=op.required_resource_keys,
        tags=op.tags, version=None, retry_policy=op.retry_policy, code_version=op.version, pool=pool)


def with_warehouse_pool(defs_list, pool: str = POOL) -> list:
    """The assets or asset checks, those that require the warehouse resource moved into ``pool``."""
    out = []
    for assets_def in defs_list:
        node = assets_def.node_def
        if WAREHOUSE_KEY in assets_def.required_resource_keys and isinstance(node, OpDefinition) and not node.pool:
            assets_def = type(assets_def).dagster_internal_init(
                **{**assets_def.get_attributes_dict(), "node_def": _with_pool(node, pool)})
        out.append(assets_def)
    return out
