"""The data folder resource (``KONGCHUO_HOME``): where landing/, raw/, quarantine/, reports/ and reference/ are.

A Dagster resource type the assets and checks share; :func:`pipelines.resources.build_resources` builds it from the
environment.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import dagster as dg

from kongchuo import settings


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
