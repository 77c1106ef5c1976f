"""Jobs: the monthly graph (ingest → checks → derived → reports) for one month."""

from __future__ import annotations

import dagster as dg

# In-process: DuckDB allows one writer, and each step of a multiprocess run would pay ~2 s of imports.
monthly_job = dg.define_asset_job(
    name="monthly_job",
    selection=dg.AssetSelection.groups("ingest", "derived", "reports") - dg.AssetSelection.key_prefixes(
        ["reports", "quarterly"]),
    executor_def=dg.in_process_executor,
    description="控辍保学月度作业 Monthly run: ingest landing files, check, derive and write the period's reports.",
)
