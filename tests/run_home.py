"""Run the real monthly job on one KONGCHUO_HOME: Definitions whose resources point at that home.

``pipelines.definitions.defs`` builds its warehouse URL when first imported, so later tests of the same
session with another home would read and write the first test's warehouse; these definitions do not."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from kongchuo.settings import default_warehouse_url
from warehouse.home import KongchuoHome
from warehouse.resource import WarehouseResource


def home_defs(home: Path) -> dg.Definitions:
    from pipelines.definitions import defs
    from pipelines.jobs import monthly_job, quarterly_job

    resources = {"home": KongchuoHome(path=str(home)), "warehouse": WarehouseResource(url=default_warehouse_url(home))}
    return dg.Definitions(assets=list(defs.assets), asset_checks=list(defs.asset_checks),
                          jobs=[monthly_job, quarterly_job], resources=resources)


def run_home(home: Path, period: str, instance: dg.DagsterInstance):
    """The monthly job for ``2026-10``, the quarterly job for ``2026-Q4``."""
    from pipelines.run import run_period

    return run_period(period, instance=instance, defs=home_defs(home))
