"""Jobs: the monthly graph (ingest → checks → derived → reports) for one month."""

from __future__ import annotations

import dagster as dg

# District-wide runs: one at a time under the deployment's queue (deploy/dagster.yaml, tag_concurrency_limits).
DISTRICT = {"kongchuo/graph": "district"}

# In-process: DuckDB allows one writer, and each step of a multiprocess run would pay ~2 s of imports.
monthly_job = dg.define_asset_job(
    name="monthly_job",
    selection=dg.AssetSelection.groups("ingest", "derived", "ledger", "reports") - dg.AssetSelection.key_prefixes(
        ["reports", "quarterly"]),
    executor_def=dg.in_process_executor,
    tags=DISTRICT,
    description="控辍保学月度作业 Monthly run: ingest landing files, check, derive and write the period's reports.",
)

# The quarter in progress (R2): reads the staged tables as the monthly runs and the sensor left them.
quarterly_job = dg.define_asset_job(
    name="quarterly_job",
    selection=dg.AssetSelection.groups("quarterly") | dg.AssetSelection.key_prefixes(["reports", "quarterly"]),
    executor_def=dg.in_process_executor,
    tags=DISTRICT,
    description="控辍保学季度作业 Quarterly run: quarterly derived tables and R2 统计表 for the quarter in progress.",
)

# Started by the landing sensor: ingest (and check) whatever is in landing/ for the current month.
ingest_job = dg.define_asset_job(
    name="ingest_job",
    selection=dg.AssetSelection.groups("ingest"),
    executor_def=dg.in_process_executor,
    tags=DISTRICT,
    description="入库作业 Ingest the files in landing/ (raw copy, staged rows, checks) for the current month.",
)

# R7: the day's early-warning list (started after a roll-call file is ingested, or by `kongchuo warn`).
daily_warning_job = dg.define_asset_job(
    name="daily_warning_job",
    selection=dg.AssetSelection.groups("daily"),
    executor_def=dg.in_process_executor,
    tags=DISTRICT,
    description="每日预警作业 Daily early warning: derived.early_warnings and R7 per school for one school day.",
)

# R8 学籍异动梳理 between monthly runs: ingest what landed, then the term's registry changes, R8 and the month's
# manifest (weekly from the term's start and a final run at term start + 2 months: pipelines/schedules.py).
registry_changes_job = dg.define_asset_job(
    name="registry_changes_job",
    selection=(dg.AssetSelection.groups("ingest")
               | dg.AssetSelection.assets(dg.AssetKey(["derived", "registry_changes"]),
                                          dg.AssetKey(["reports", "r8_registry_changes"]),
                                          dg.AssetKey(["reports", "monthly_manifest"]))),
    executor_def=dg.in_process_executor,
    tags=DISTRICT,
    description="学籍异动梳理作业 R8: ingest, the term's registry changes with verdicts, R8 workbooks, manifest.",
)
