"""The one entry point of the kongchuo code location: every asset, check, job, schedule and sensor."""

from __future__ import annotations

import kongchuo  # noqa: F401  (turns telemetry and analytics off before anything else loads)

import dagster as dg

from assets.derived import derived_assets
from assets.fix_list import fix_list_assets
from assets.ingest import ingest_assets
from assets.manifest import build_manifest_asset
from assets.report_r1 import R1, r1_monthly
from checks import dq_checks
from pipelines.jobs import monthly_job
from pipelines.partitions import monthly_partitions
from pipelines.resources import build_resources

monthly_reports = [r1_monthly, *fix_list_assets]
monthly_manifest = build_manifest_asset("monthly_manifest", [a.key for a in monthly_reports], monthly_partitions)

defs = dg.Definitions(
    assets=[*ingest_assets, *derived_assets, *monthly_reports, monthly_manifest],
    asset_checks=dq_checks,
    jobs=[monthly_job],
    resources=build_resources(),
)
