"""The one entry point of the kongchuo code location: every asset, check, job, schedule and sensor.

Reports are not named here: each report's spec module registers it (``assets.report_skeleton.register_report``),
and :func:`build_definitions` takes every registered report and the per-period manifests over them."""

from __future__ import annotations

import dagster as dg

import kongchuo  # noqa: F401  (turns telemetry and analytics off before anything else loads)
from assets.derived import derived_assets
from assets.early_warning import early_warnings
from assets.home_teaching import home_teaching_assets
from assets.ingest import ingest_assets
from assets.ledger import ledger_assets
from assets.manifest import manifest_assets
from assets.quarterly import quarterly_derived_assets
from assets.registry_changes import registry_changes_assets
from assets.report_skeleton import registered_reports
from checks import dq_checks
from pipelines.jobs import daily_warning_job, ingest_job, monthly_job, quarterly_job, registry_changes_job
from pipelines.policies import apply_policies
from pipelines.resources import build_resources
from pipelines.schedules import schedules
from pipelines.sensors import sensors


def build_definitions() -> dg.Definitions:
    """The definitions over the reports registered now (a report registered later appears in the next build)."""
    reports = [r.asset for r in registered_reports()]
    return dg.Definitions(
        # Global policies (owners, kinds, code versions from rule SQL, column schema and lineage): pipelines/policies.py
        assets=apply_policies([
            *ingest_assets, *derived_assets, *registry_changes_assets, *home_teaching_assets, *ledger_assets,
            *quarterly_derived_assets, early_warnings, *reports, *manifest_assets()]),
        asset_checks=dq_checks,  # warehouse writers declare pool=WAREHOUSE_POOL (warehouse/pools.py)
        jobs=[monthly_job, quarterly_job, ingest_job, daily_warning_job, registry_changes_job],
        schedules=schedules,
        sensors=sensors,
        resources=build_resources(),
    )


defs = build_definitions()
