"""Resources: where the data folder is and which warehouse to use, both from the environment."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import dagster as dg

from kongchuo import settings
from warehouse.resource import WarehouseResource


class KongchuoHome(dg.ConfigurableResource):
    """The data folder (``KONGCHUO_HOME``): landing/, raw/, quarantine/, reports/ and reference/."""

    path: str
    # Processes that parse new landed files in parallel (KONGCHUO_INGEST_WORKERS); the run itself loads them.
    # Used only when the new files are large together (kongchuo.parsing.PARALLEL_MIN_BYTES).
    ingest_workers: int = 2

    @property
    def root(self) -> Path:
        return Path(self.path).resolve()

    def landing(self, source: str) -> Path:
        return settings.landing_dir(self.root, source)

    @property
    def raw(self) -> Path:
        return settings.raw_dir(self.root)

    @property
    def quarantine(self) -> Path:
        return settings.quarantine_dir(self.root)

    def reports(self, period: str) -> Path:
        return settings.reports_dir(self.root, period)

    def reference(self, name: str) -> Path:
        return settings.reference_file(self.root, name)

    # How attendance is delivered (KONGCHUO_ATTENDANCE_MODE, read when the code location loads): ``rollcall``, one
    # row per student per school day; ``absence_only``, only the non-present rows, with the school days from
    # reference/school_calendar.csv (assets/rules.py). Shown and overridable in the run config (resources.home).
    attendance_mode: Literal["rollcall", "absence_only"] = os.environ.get(  # type: ignore[assignment]
        "KONGCHUO_ATTENDANCE_MODE", "rollcall").strip() or "rollcall"


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
