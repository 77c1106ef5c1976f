"""Concurrency pool of the warehouse writers: every asset and asset check that writes the warehouse declares
``pool=WAREHOUSE_POOL`` in its decorator.

DuckDB allows one writer process. The default local instance (written by ``kongchuo`` in
``$DAGSTER_HOME/dagster.yaml``, :func:`pipelines.cli._dagster_home`) gives the pool a limit of 1 with run
granularity, so queued runs (UI, schedules, sensors, backfills through ``dagster-daemon``) that write the
warehouse start one at a time; runs started directly (``kongchuo run``, ``execute_in_process``) are not queued and
wait instead for DuckDB's file lock (:class:`warehouse.resource.WarehouseResource` retries while another process
holds it). With the PostgreSQL warehouse (``deploy/dagster.yaml``) the pool has no limit.
"""

WAREHOUSE_POOL = "kongchuo_warehouse"
POOL = WAREHOUSE_POOL  # the name tests and deploy docs use
