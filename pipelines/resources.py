"""Resources: where the data folder is and which warehouse to use, both from the environment."""

from __future__ import annotations

import os

import dagster as dg

from kongchuo import settings
from warehouse.home import KongchuoHome
from warehouse.resource import WarehouseResource


def _env_or_default(var: str, default: str) -> str | dg.EnvVar:
    """An ``EnvVar`` when the variable is set (so the UI shows where the value came from), else the default."""
    return dg.EnvVar(var) if os.environ.get(var) else default


def build_resources() -> dict[str, dg.ConfigurableResource]:
    return {
        "home": KongchuoHome(path=_env_or_default("KONGCHUO_HOME", str(settings.kongchuo_home())),
                             ingest_workers=(dg.EnvVar.int("KONGCHUO_INGEST_WORKERS")
                                             if os.environ.get("KONGCHUO_INGEST_WORKERS") else 2)),
        "warehouse": WarehouseResource(
            url=_env_or_default("KONGCHUO_WAREHOUSE_URL", settings.default_warehouse_url()),
            duckdb_memory_limit=_env_or_default("KONGCHUO_DUCKDB_MEMORY_LIMIT", "3GB"),
        ),
    }
