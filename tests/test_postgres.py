"""The same monthly graph on DuckDB and on PostgreSQL gives the same tables and the same report cells.

A small generated district (400 students, spring term 2026) is run for 2026-03 — a term start, so every
rule (SD1–SD5), the checks, the ledger and the monthly reports have work — through
:func:`pipelines.run.run_period`, once with the default DuckDB warehouse and once with
``KONGCHUO_WAREHOUSE_URL`` pointing at a fresh PostgreSQL database (dropped afterwards).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import dagster as dg
import pandas as pd
import pytest
from district_run import install_district
from services import frames_differ, fresh_database, require_postgres, warehouse_url

from kongchuo.settings import default_warehouse_url
from warehouse.home import KongchuoHome
from warehouse.resource import WarehouseResource

PERIOD = "2026-03"
TABLES = {
    "derived.roster": "SELECT * FROM derived.roster",
    "derived.suspected_dropouts": "SELECT * FROM derived.suspected_dropouts",
    "derived.out_of_school": "SELECT * FROM derived.out_of_school",
    "derived.home_teaching_compliance": "SELECT * FROM derived.home_teaching_compliance",
    "checks.findings": "SELECT period, check_id, source, record_key, school_code, file_sha, row_no, detail, severity "
                      "FROM checks.findings",
    "ledger.case_events": "SELECT * FROM ledger.case_events",
    "ledger.cases": "SELECT * FROM ledger.cases",
    "reports.cells": "SELECT * FROM reports.cells",
}


@contextlib.contextmanager
def _env(home: Path, url: str | None) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in ("KONGCHUO_HOME", "KONGCHUO_WAREHOUSE_URL")}
    os.environ["KONGCHUO_HOME"] = str(home)
    if url:
        os.environ["KONGCHUO_WAREHOUSE_URL"] = url
    else:
        os.environ.pop("KONGCHUO_WAREHOUSE_URL", None)
    try:
        yield
    finally:
        for k, v in saved.items():
            os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)


def run_month(generated: Path, home: Path, url: str, instance: dg.DagsterInstance):
    from pipelines.definitions import defs
    from pipelines.run import run_period

    install_district(generated, home)
    run_defs = dg.Definitions(assets=defs.assets, asset_checks=defs.asset_checks, jobs=defs.jobs,
                              resources={"home": KongchuoHome(path=str(home)), "warehouse": WarehouseResource(url=url)})
    with _env(home, None if url.startswith("duckdb") else url):
        return run_period(PERIOD, instance=instance, defs=run_defs)


@dataclass(repr=False)
class Compared:
    outcomes: dict
    tables: dict  # table -> (DuckDB frame, PostgreSQL frame)
    homes: tuple[Path, Path]

    def __repr__(self) -> str:  # pytest prints fixtures on failure: never the rows (ID numbers)
        return f"<Compared {len(self.tables)} tables>"


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    require_postgres()
    from kongchuo.generate import generate

    root = tmp_path_factory.mktemp("pg-vs-duck")
    generated = root / "generated"
    generate("411003", 400, 23, dt.date(2026, 3, 2), dt.date(2026, 4, 30), generated)
    with fresh_database() as db, dg.DagsterInstance.ephemeral() as instance:
        duck_home, pg_home = root / "duck", root / "pg"
        duck_url, pg_url = default_warehouse_url(duck_home), warehouse_url(db)
        outcomes = {"duckdb": run_month(generated, duck_home, duck_url, instance),
                    "postgresql": run_month(generated, pg_home, pg_url, instance)}
        duck, pg = WarehouseResource(url=duck_url), WarehouseResource(url=pg_url)
        tables = {name: (duck.query_df(sql), pg.query_df(sql)) for name, sql in TABLES.items()}
        duck.dispose()
        pg.dispose()
        yield Compared(outcomes, tables, (duck_home, pg_home))
    shutil.rmtree(root, ignore_errors=True)


def test_both_runs_succeed(both):
    for name, outcome in both.outcomes.items():
        assert outcome.success, f"{name}: {outcome.error} skipped={outcome.skipped}"
        assert "ledger/case_events" in outcome.materialized


@pytest.mark.parametrize("table", list(TABLES))
def test_identical_tables(both, table):
    duck, pg = both.tables[table]
    if table in ("derived.roster", "derived.suspected_dropouts", "derived.out_of_school", "checks.findings",
                 "ledger.case_events"):
        assert len(duck) > 0, f"{table}: no rows on DuckDB, the comparison would prove nothing"
    problem = frames_differ(table, duck, pg)
    assert problem is None, problem


def test_several_rules_fired(both):
    rules = set(",".join(both.tables["derived.suspected_dropouts"][0]["rules"]).split(","))
    assert len(rules) >= 3, sorted(rules)


def _cells(path: Path) -> dict[str, pd.DataFrame]:
    return pd.read_excel(path, sheet_name=None, header=None, engine="calamine")


def test_identical_report_cells(both):
    duck_home, pg_home = both.homes
    duck_dir, pg_dir = duck_home / "reports" / PERIOD, pg_home / "reports" / PERIOD
    duck_files = sorted(p.name for p in duck_dir.glob("*.xlsx"))
    pg_files = sorted(p.name for p in pg_dir.glob("*.xlsx"))
    assert len(duck_files) >= 5, f"only {len(duck_files)} workbooks"
    same_names = duck_files == pg_files
    assert same_names, f"{len(duck_files)} vs {len(pg_files)} workbooks, names differ"
    for name in duck_files:
        a, b = _cells(duck_dir / name), _cells(pg_dir / name)
        assert list(a) == list(b), f"{name}: sheet names differ"
        for sheet in a:
            fa, fb = a[sheet], b[sheet]
            assert fa.shape == fb.shape, f"{name} / {sheet}: shape {fa.shape} vs {fb.shape}"
            unequal = ~((fa == fb) | (fa.isna() & fb.isna()))
            where = [(r, c) for r, c in zip(*unequal.to_numpy().nonzero())][:3]
            assert not where, f"{name} / {sheet}: {int(unequal.to_numpy().sum())} cells differ, e.g. (row, col) {where}"


def test_deploy_instance_runs_a_job_and_stores_it(tmp_path, monkeypatch):
    """deploy/dagster.yaml: Dagster's runs and events in PostgreSQL (a fresh database), found again by a new
    instance built from the same file."""
    require_postgres()
    from services import dagster_pg_env

    from assets.ingest import staged_reference

    repo = Path(__file__).resolve().parent.parent
    dagster_home = tmp_path / "dagster"
    dagster_home.mkdir()
    shutil.copy(repo / "deploy" / "dagster.yaml", dagster_home / "dagster.yaml")
    home = tmp_path / "home"
    with fresh_database("kongchuo_dagster") as db:
        for key, value in {**dagster_pg_env(db), "DAGSTER_HOME": str(dagster_home)}.items():
            monkeypatch.setenv(key, value)
        resources = {"home": KongchuoHome(path=str(home)),
                     "warehouse": WarehouseResource(url=default_warehouse_url(home))}
        with dg.DagsterInstance.get() as instance:
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"
            assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
            result = dg.materialize([staged_reference], partition_key=PERIOD, instance=instance, resources=resources)
            assert result.success
        resources["warehouse"].dispose()
        with dg.DagsterInstance.get() as again:
            run = again.get_run_by_id(result.run_id)
            assert run is not None and run.status == dg.DagsterRunStatus.SUCCESS
            assert again.get_latest_materialization_event(dg.AssetKey(["staged", "reference"])) is not None
        import psycopg

        with psycopg.connect(host="127.0.0.1", user="postgres", dbname=db) as conn:
            stored = conn.execute("SELECT count(*) FROM runs WHERE run_id = %s", (result.run_id,)).fetchone()[0]
        assert stored == 1
