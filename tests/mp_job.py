"""The monthly job on Dagster's multiprocess executor, loadable by file in each step's own process
(``dg.reconstructable``): the same assets and checks as ``monthly_job``, resources from the environment
(KONGCHUO_HOME), two steps at a time."""

from __future__ import annotations

import dagster as dg


def multiprocess_monthly_job() -> dg.JobDefinition:
    from pipelines.definitions import defs
    from pipelines.jobs import monthly_job
    from warehouse.partitions import monthly_partitions

    job = dg.define_asset_job(name="monthly_job_multiprocess", selection=monthly_job.selection,
                              partitions_def=monthly_partitions,
                              executor_def=dg.multiprocess_executor.configured({"max_concurrent": 2}))
    return dg.Definitions(assets=defs.assets, asset_checks=defs.asset_checks, jobs=[job],
                          resources=defs.resources).resolve_job_def(job.name)
