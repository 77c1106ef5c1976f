"""Schedules, the landing sensor and a two-month backfill, evaluated and run against real Dagster instances."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import duckdb
import pandas as pd
import pytest
from district_run import QUARTER, assert_same, definitions_for, district_run, install_district, kongchuo_env

from warehouse.home import KongchuoHome
from warehouse.partitions import monthly_partitions, quarterly_partitions

SHANGHAI = ZoneInfo("Asia/Shanghai")
REPO = Path(__file__).resolve().parent.parent


def at(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=SHANGHAI)


def tick(schedule_name: str, when: dt.datetime):
    from pipelines.definitions import defs

    repository = defs.get_repository_def()
    schedule = repository.get_schedule_def(schedule_name)
    with dg.DagsterInstance.ephemeral() as instance:
        context = dg.build_schedule_context(instance=instance, scheduled_execution_time=when,
                                            repository_def=repository)
        data = schedule.evaluate_tick(context)
    return schedule, data


@pytest.mark.parametrize("when,key", [(at(2026, 7, 16, 6), "2026-06"), (at(2026, 1, 16, 6), "2025-12"),
                                      (at(2026, 10, 16, 6), "2026-09")])
def test_monthly_schedule_runs_the_previous_month(when, key):
    schedule, data = tick("monthly_schedule", when)
    assert schedule.cron_schedule == "0 6 16 * *" and schedule.execution_timezone == "Asia/Shanghai"
    assert schedule.job_name == "monthly_job"
    (request,) = data.run_requests
    assert request.partition_key == key and request.run_key == f"monthly_{key}"
    # build_schedule_from_partitioned_job would take the last partition: with end_offset=1 the month in progress
    from dagster._core.definitions.partitions.context import partition_loading_context

    with partition_loading_context(effective_dt=when):
        assert monthly_partitions.get_last_partition_key() == when.strftime("%Y-%m") != key


@pytest.mark.parametrize("when,key", [(at(2026, 3, 25, 6), "2026-01-01"), (at(2026, 6, 25, 6), "2026-04-01"),
                                      (at(2026, 9, 25, 6), "2026-07-01"), (at(2026, 12, 25, 6), "2026-10-01")])
def test_quarterly_schedule_runs_the_quarter_in_progress(when, key):
    schedule, data = tick("quarterly_schedule", when)
    assert schedule.cron_schedule == "0 6 25 3,6,9,12 *" and schedule.execution_timezone == "Asia/Shanghai"
    (request,) = data.run_requests
    assert request.partition_key == key and quarterly_partitions.has_partition_key(key)


def test_schedule_ticks_fall_on_the_16th_and_the_25th():
    from dagster._utils.schedules import cron_string_iterator

    monthly = cron_string_iterator(at(2026, 6, 1).timestamp(), "0 6 16 * *", "Asia/Shanghai")
    assert [next(monthly) for _ in range(2)] == [at(2026, 6, 16, 6), at(2026, 7, 16, 6)]
    quarterly = cron_string_iterator(at(2026, 4, 1).timestamp(), "0 6 25 3,6,9,12 *", "Asia/Shanghai")
    assert [next(quarterly) for _ in range(2)] == [at(2026, 6, 25, 6), at(2026, 9, 25, 6)]


def test_quarterly_schedule_request_runs_r2():
    """The run the 2026-06-25 tick asks for, executed on the generated district: R2 for 2026-Q2."""
    run = district_run()
    _, data = tick("quarterly_schedule", at(2026, 6, 25, 6))
    (request,) = data.run_requests
    job = definitions_for(run.home).resolve_job_def("quarterly_job")
    with kongchuo_env(run.home):
        result = job.execute_in_process(partition_key=request.partition_key, instance=run.instance, tags=request.tags)
    assert result.success
    assert {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()} >= {
        "reports/quarterly/r2_statistics", "derived/quarterly_suspected", "derived/township_rates"}
    assert (run.reports(QUARTER) / "manifest.json").exists()


@pytest.fixture
def small_district(tmp_path: Path) -> Path:
    from kongchuo.generate import generate

    generate("411003", 300, 5, dt.date(2026, 3, 2), dt.date(2026, 4, 30), tmp_path / "generated")
    return tmp_path / "generated"


def test_landing_sensor_starts_ingestion_for_new_files(tmp_path, small_district):
    from pipelines.sensors import current_month_key, landing_sensor

    home = tmp_path / "home"
    (home / "landing" / "registry").mkdir(parents=True)
    repository = definitions_for(home).get_repository_def()

    def evaluate(cursor):
        with dg.DagsterInstance.ephemeral() as instance:
            context = dg.build_sensor_context(instance=instance, cursor=cursor, repository_def=repository,
                                              resources={"home": KongchuoHome(path=str(home))})
            data = landing_sensor.evaluate_tick(context)
        return data

    empty = evaluate(None)
    assert not empty.run_requests and empty.skip_message
    install_district(small_district, home)
    landed = sum(1 for p in (home / "landing").rglob("*") if p.is_file())
    first = evaluate(None)
    (request,) = first.run_requests
    assert request.partition_key == current_month_key() and request.job_name in (None, "ingest_job")
    assert request.tags["kongchuo/new_files"] == str(landed)
    cursor = json.loads(first.cursor)
    assert len(cursor) == landed and all(len(entry) == 3 for entry in cursor)
    again = evaluate(first.cursor)
    assert not again.run_requests  # nothing new
    # a corrected file re-sent under the same name is new
    casework = next((home / "landing" / "casework").iterdir())
    casework.write_bytes(casework.read_bytes() + b"\n")
    resent = evaluate(first.cursor)
    (request2,) = resent.run_requests
    assert request2.run_key != request.run_key and request2.tags["kongchuo/new_files"] == "1"
    # the run the sensor asked for ingests every landed file
    job = definitions_for(home).resolve_job_def("ingest_job")
    with kongchuo_env(home), dg.DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(partition_key=request.partition_key, instance=instance, tags=request.tags)
    assert result.success
    files = definitions_for(home).resources["warehouse"].query_df(
        "SELECT source, status FROM raw.files")
    assert len(files) == landed and set(files["source"]) == {
        "registry", "attendance", "census", "casework", "exemptions", "home_teaching"}


def test_two_month_backfill_from_the_cli(tmp_path, small_district):
    """``dagster job backfill`` over 2026-03 and 2026-04: one run per month, oldest first, each successful,
    with the ledger and reports of both months. The instance runs launched runs synchronously (in production
    the daemon's run queue, limited to one run at a time, does the same)."""
    home, dagster_home = tmp_path / "home", tmp_path / "dagster"
    install_district(small_district, home)
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text(
        "telemetry:\n  enabled: false\n"
        "run_coordinator:\n  module: dagster._core.run_coordinator.default_run_coordinator\n"
        "  class: DefaultRunCoordinator\n"
        "run_launcher:\n  module: dagster._core.launcher.sync_in_memory_run_launcher\n"
        "  class: SyncInMemoryRunLauncher\n", encoding="utf-8")
    env = {**os.environ, "KONGCHUO_HOME": str(home), "DAGSTER_HOME": str(dagster_home),
           "DAGSTER_DISABLE_TELEMETRY": "true", "PYTHONPATH": str(REPO)}
    env.pop("KONGCHUO_WAREHOUSE_URL", None)
    dagster = Path(sys.executable).parent / "dagster"
    proc = subprocess.run([str(dagster), "job", "backfill", "-m", "pipelines.definitions", "-d", str(REPO),
                           "-j", "monthly_job", "--partitions", "2026-03,2026-04", "--noprompt"],
                          env=env, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        runs = sorted(instance.get_runs(), key=lambda r: instance.get_run_record_by_id(r.run_id).start_time)
        assert [r.tags.get("dagster/partition") for r in runs] == ["2026-03", "2026-04"]
        assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
        assert len({r.tags.get("dagster/backfill") for r in runs}) == 1 and runs[0].tags.get("dagster/backfill")
    for period in ("2026-03", "2026-04"):
        assert (home / "reports" / period / "manifest.json").exists()
        assert len(list((home / "reports" / period).glob("*.xlsx"))) >= 5
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as con:
        ledger = con.execute("SELECT DISTINCT created_for_period FROM ledger.case_events ORDER BY 1").fetchall()
        sd = con.execute("SELECT period, person_key FROM derived.suspected_dropouts").fetchall()
    assert [p for (p,) in ledger] == ["2026-03", "2026-04"]
    truth = pd.read_csv(small_district / "ground_truth.csv", dtype=str, keep_default_na=False)
    truth = truth[truth["case"].isin(["SD1", "SD2", "SD3", "SD4", "SD5", "SD6"])]
    assert_same("backfilled suspected dropouts", set(sd), set(zip(truth["period"], truth["person_key"])))
