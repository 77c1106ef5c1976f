"""The one entry point of the kongchuo code location: every asset, check, job, schedule and sensor."""

from __future__ import annotations

import dagster as dg

import kongchuo  # noqa: F401  (turns telemetry and analytics off before anything else loads)
from assets.derived import derived_assets
from assets.early_warning import R7, daily_assets
from assets.fix_list import fix_list_assets
from assets.home_teaching import home_teaching_assets
from assets.ingest import ingest_assets
from assets.ledger import ledger_assets
from assets.manifest import build_manifest_asset
from assets.quarterly import quarterly_derived_assets
from assets.registry_changes import registry_changes_assets
from assets.report_r1 import r1_monthly
from assets.report_r2 import quarterly_report_assets
from assets.report_r3 import r3_one_student_one_form
from assets.report_r4 import r4_escalations
from assets.report_r6 import r6_home_teaching
from assets.report_r8 import report_r8_assets
from checks import dq_checks
from pipelines.jobs import daily_warning_job, ingest_job, monthly_job, quarterly_job, registry_changes_job
from pipelines.policies import apply_policies
from pipelines.resources import build_resources
from pipelines.schedules import schedules
from pipelines.sensors import sensors
from warehouse.partitions import daily_partitions, monthly_partitions

monthly_reports = [r1_monthly, *fix_list_assets, r3_one_student_one_form, r4_escalations, r6_home_teaching,
                   *report_r8_assets]
monthly_manifest = build_manifest_asset("monthly_manifest", [a.key for a in monthly_reports], monthly_partitions)
daily_manifest = build_manifest_asset("daily_manifest", [R7], daily_partitions, group_name="daily")

defs = dg.Definitions(
    # Global policies (owners, kinds, code versions from rule SQL, column schema and lineage): pipelines/policies.py
    assets=apply_policies([
        *ingest_assets, *derived_assets, *registry_changes_assets, *home_teaching_assets, *ledger_assets, *monthly_reports, monthly_manifest,
        *quarterly_derived_assets, *quarterly_report_assets, *daily_assets, daily_manifest]),
    asset_checks=dq_checks,  # warehouse writers declare pool=WAREHOUSE_POOL (warehouse/pools.py)
    jobs=[monthly_job, quarterly_job, ingest_job, daily_warning_job, registry_changes_job],
    schedules=schedules,
    sensors=sensors,
    resources=build_resources(),
)
