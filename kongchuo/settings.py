"""Paths and URLs from the environment (DESIGN.md, Interfaces). One place for every location."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
BUNDLED_REFERENCE = Path(__file__).resolve().parent / "reference"
SAMPLE_DIR = REPO_ROOT / "data" / "sample"

SOURCES: tuple[str, ...] = ("registry", "attendance", "census", "casework", "exemptions", "home_teaching")


def kongchuo_home() -> Path:
    """``KONGCHUO_HOME``, default ``./data`` in the repo."""
    return Path(os.environ.get("KONGCHUO_HOME") or (REPO_ROOT / "data")).resolve()


def default_warehouse_url(home: Path | None = None) -> str:
    return f"duckdb:///{(home or kongchuo_home()) / 'warehouse.duckdb'}"


def warehouse_url() -> str:
    return os.environ.get("KONGCHUO_WAREHOUSE_URL") or default_warehouse_url()


def landing_dir(home: Path, source: str) -> Path:
    return home / "landing" / source


def raw_dir(home: Path) -> Path:
    return home / "raw"


def quarantine_dir(home: Path) -> Path:
    return home / "quarantine"


def reports_dir(home: Path, period: str) -> Path:
    return home / "reports" / period


def reference_file(home: Path, name: str) -> Path:
    """A bureau's own reference file under KONGCHUO_HOME/reference wins over the bundled one."""
    own = home / "reference" / name
    return own if own.exists() else BUNDLED_REFERENCE / name


def automation_on() -> bool:
    """``KONGCHUO_AUTOMATION`` (default ``on``): whether the landing sensor and the schedules start RUNNING
    wherever a Dagster daemon runs (``dagster dev``, ``dagster-daemon``); ``off`` starts them stopped. Either way
    they can be turned on or off in the UI (Automation), which overrides this default."""
    return os.environ.get("KONGCHUO_AUTOMATION", "on").strip().lower() not in ("off", "0", "false", "no")
