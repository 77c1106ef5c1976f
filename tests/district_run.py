"""A generated district run through the real Dagster graph, once per test session (shared by test_rules,
test_reports and test_ledger).

``district_run()`` generates a district over the spring term 2026 (2026-03-02 … 2026-06-30: a term start,
four months and the quarter 2026-Q2), copies its landing files and reference data into a fresh
``KONGCHUO_HOME``, and runs ``monthly_job`` for 2026-03 … 2026-06 in order and then ``quarterly_job`` for
2026-Q2 through :func:`pipelines.run.run_period` on an ephemeral Dagster instance. ``autumn_run()`` does the
same for the autumn term start (2026-09, 2026-10): SD2 in September, SD6 from 30 days after the start.

Tests compare set sizes and masked samples only: full ID numbers and names never reach test output.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import functools
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import dagster as dg
import pandas as pd

from kongchuo.masking import mask_id
from kongchuo.settings import default_warehouse_url
from warehouse.home import KongchuoHome
from warehouse.resource import WarehouseResource

MONTHS = ("2026-03", "2026-04", "2026-05", "2026-06")
QUARTER = "2026-Q2"
START, END = dt.date(2026, 3, 2), dt.date(2026, 6, 30)
AUTUMN_MONTHS = ("2026-09", "2026-10")
AUTUMN_START, AUTUMN_END = dt.date(2026, 9, 1), dt.date(2026, 10, 31)


@dataclass
class DistrictRun:
    home: Path
    generated: Path
    truth: pd.DataFrame
    outcomes: dict
    instance: dg.DagsterInstance

    @property
    def warehouse(self) -> WarehouseResource:
        return WarehouseResource(url=default_warehouse_url(self.home))

    def reports(self, period: str) -> Path:
        return self.home / "reports" / period

    def truth_pairs(self, case: str, column: str = "person_key") -> set[tuple[str, str]]:
        t = self.truth[self.truth["case"] == case]
        return set(zip(t["period"], t[column]))


@contextlib.contextmanager
def kongchuo_env(home: Path) -> Iterator[None]:
    """Point KONGCHUO_HOME at ``home`` (and clear the warehouse URL) for the duration."""
    saved = {k: os.environ.get(k) for k in ("KONGCHUO_HOME", "KONGCHUO_WAREHOUSE_URL")}
    os.environ["KONGCHUO_HOME"] = str(home)
    os.environ.pop("KONGCHUO_WAREHOUSE_URL", None)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def definitions_for(home: Path) -> dg.Definitions:
    """The project's definitions with resources pointing at ``home`` (independent of import-time env)."""
    from pipelines.definitions import defs

    return dg.Definitions(
        assets=defs.assets, asset_checks=defs.asset_checks, jobs=defs.jobs, schedules=defs.schedules,
        sensors=defs.sensors,
        resources={"home": KongchuoHome(path=str(home)), "warehouse": WarehouseResource(url=default_warehouse_url(home))},
    )


def install_district(generated: Path, home: Path) -> None:
    for part in ("landing", "reference"):
        shutil.copytree(generated / part, home / part, dirs_exist_ok=True)


def run_periods(home: Path, periods, instance: dg.DagsterInstance) -> dict:
    from pipelines.run import run_period

    defs = definitions_for(home)
    outcomes = {}
    with kongchuo_env(home):
        for period in periods:
            outcomes[period] = run_period(period, instance=instance, defs=defs)
    return outcomes


@functools.lru_cache(maxsize=None)
def district_run(students: int = 1500, seed: int = 11) -> DistrictRun:
    return _generated_run(START, END, (*MONTHS, QUARTER), students, seed)


@functools.lru_cache(maxsize=None)
def autumn_run(students: int = 1000, seed: int = 12) -> DistrictRun:
    """The autumn term start: 2026-09 (SD2 month, SD6 not yet: 30 days after the start) and 2026-10 (SD6)."""
    return _generated_run(AUTUMN_START, AUTUMN_END, AUTUMN_MONTHS, students, seed)


def _generated_run(start: dt.date, end: dt.date, periods, students: int, seed: int) -> DistrictRun:
    from kongchuo.generate import generate

    root = Path(tempfile.mkdtemp(prefix="kongchuo-district-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    generated, home = root / "generated", root / "home"
    generate("411003", students, seed, start, end, generated)
    install_district(generated, home)
    instance = dg.DagsterInstance.ephemeral()
    outcomes = run_periods(home, periods, instance)
    truth = pd.read_csv(generated / "ground_truth.csv", dtype=str, keep_default_na=False)
    return DistrictRun(home=home, generated=generated, truth=truth, outcomes=outcomes, instance=instance)


def _masked(item) -> object:
    if isinstance(item, tuple):
        return tuple(_masked(v) for v in item)
    text = str(item)
    return mask_id(text) if len(text) > 8 else text


def describe(name: str, got: set, want: set) -> str:
    """A mismatch message with sizes and a few masked examples (never full IDs)."""
    fp, fn = sorted(got - want)[:3], sorted(want - got)[:3]
    return (f"{name}: got {len(got)}, want {len(want)}, false positives {len(got - want)} e.g. "
            f"{[_masked(i) for i in fp]}, false negatives {len(want - got)} e.g. {[_masked(i) for i in fn]}")


def assert_same(name: str, got: set, want: set) -> None:
    """Fail with sizes and masked examples only (plain ``assert got == want`` would print full IDs)."""
    if got != want:
        import pytest

        pytest.fail(describe(name, got, want), pytrace=False)
